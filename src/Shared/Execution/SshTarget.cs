namespace NixFleet.Shared.Execution;

/// <summary>Where to connect and as whom.</summary>
public sealed record SshTarget(string Address, int Port, string User);

/// <summary>How to connect to one host.</summary>
/// <param name="ControlDirectory">
/// Directory for the ControlMaster sockets. Unix socket paths are limited to 108 bytes and ssh
/// binds a temporary name (the path plus 17 characters) first, so this directory's path must stay
/// short: at most <see cref="SshConnection.MaxControlDirectoryLength"/> characters.
/// </param>
/// <param name="KnownHostsFile">The only known_hosts file consulted; NixFleet writes the pinned keys there.</param>
/// <param name="HostKeyAlias">
/// The name the pinned key is stored and looked up under, instead of the address: a host keeps its
/// key when its address changes, and two hosts behind one address don't mix up their keys.
/// </param>
/// <param name="ConnectTimeout">TCP connect and SSH banner exchange limit.</param>
/// <param name="ControlPersist">How long an idle master connection stays open for the next command.</param>
public sealed record SshSettings(
    string ControlDirectory,
    string KnownHostsFile,
    string HostKeyAlias,
    TimeSpan ConnectTimeout,
    TimeSpan ControlPersist);
