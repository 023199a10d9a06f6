// NixFleet drives OpenSSH, PostgreSQL and Nix tooling through Unix file modes and sockets: Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
