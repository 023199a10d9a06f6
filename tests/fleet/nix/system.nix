# A NixOS "system" stand-in for the nixos kind of NixFleet test host.
#
#   nix-build --no-out-link /etc/nixfleet-test/system.nix --argstr hostName web1 --arg generation 3
#   nix-env -p /nix/var/nix/profiles/system --set <that path>
#   <that path>/bin/switch-to-configuration switch
#
# The output looks like a (very small) NixOS toplevel:
#   nixos-version          e.g. 24.05.1234.abcdef0
#   kernel-version         e.g. 6.6.32
#   kernel -> /nix/store/...-linux-6.6.32/bzImage
#   kernel-params, configuration-name, system
#   sw -> /nix/store/...-system-path   (bin/ links to the installed packages)
#   bin/switch-to-configuration        (see switch-to-configuration.sh)
#
# Generations differ in their closures, so `nix store diff-closures` has
# something to show: 1 = hello-1.0; 2 = hello-2.0; >= 3 = hello-2.0 + cowsay-2.1.
{ hostName ? "nixos", generation ? 1, ... }:
let
  pkgs = import ./pkgs.nix { };
  gen = if builtins.isString generation then builtins.fromJSON generation else generation;
  rev = builtins.substring 0 7 (builtins.hashString "sha1" "nixfleet-test-${toString gen}");
  nixosVersion = if gen == 3 then "24.05.1234.abcdef0" else "24.05.${toString (1231 + gen)}.${rev}";
  kernelVersion = "6.6.${toString (29 + gen)}";

  kernel = derivation {
    name = "linux-${kernelVersion}";
    inherit kernelVersion;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" ''
      set -e
      /bin/mkdir -p "$out/lib/modules/$kernelVersion"
      /bin/printf 'fake kernel image %s\n' "$kernelVersion" > "$out/bzImage"
    '' ];
  };

  packages =
    if gen <= 1 then [ pkgs.hello_1 ]
    else if gen == 2 then [ pkgs.hello_2 ]
    else [ pkgs.hello_2 pkgs.cowsay_1 ];

  systemPath = derivation {
    name = "system-path";
    inherit packages nixosVersion;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" ''
      set -e
      /bin/mkdir -p "$out/bin"
      for p in $packages; do
        for f in "$p"/bin/*; do /bin/ln -s "$f" "$out/bin/"; done
      done
      /bin/printf '#!/bin/sh\n/bin/echo "%s (Uakari)"\n' "$nixosVersion" > "$out/bin/nixos-version"
      /bin/chmod 0555 "$out/bin/nixos-version"
    '' ];
  };
in
derivation {
  name = "nixos-system-${hostName}-${nixosVersion}";
  inherit hostName nixosVersion kernelVersion kernel systemPath;
  generation = toString gen;
  switchScript = ./switch-to-configuration.sh;
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" ''
    set -e
    /bin/mkdir -p "$out/bin"
    /bin/printf '%s' "$nixosVersion" > "$out/nixos-version"
    /bin/printf '%s' "$kernelVersion" > "$out/kernel-version"
    /bin/printf 'init=%s/init loglevel=4\n' "$out" > "$out/kernel-params"
    /bin/printf '%s' "$system" > "$out/system"
    /bin/printf 'generation-%s' "$generation" > "$out/configuration-name"
    /bin/ln -s "$kernel/bzImage" "$out/kernel"
    /bin/ln -s "$systemPath" "$out/sw"
    /bin/sed -e "s|@out@|$out|g" -e "s|@nixosVersion@|$nixosVersion|g" "$switchScript" > "$out/bin/switch-to-configuration"
    /bin/chmod 0555 "$out/bin/switch-to-configuration"
  '' ];
}
