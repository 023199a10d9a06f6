# A tiny package set for NixFleet test hosts (Nix 2.8, no nixpkgs, no network).
#
# Every package is a plain `derivation` built by /bin/sh with absolute paths only
# (a builder's PATH is empty). Each one has a script in bin/ and the same
# share/doc/<pname>/LICENSE text, so `nix-store --optimise` has files to hard-link.
#
#   nix-env -f /etc/nixfleet-test/pkgs.nix -iA hello
#   nix-env -f /etc/nixfleet-test/pkgs.nix -qaP          # list
#
# `next = true` is the "newer channel": hello becomes 2.0 and cowsay 2.2.
# The channel tarballs in /etc/nixfleet-test/channels/ are this file with
# next = false (nixpkgs.tar.xz, nixos.tar.xz) and next = true (*-next.tar.xz).
{ next ? false, ... }:
let
  license = "Permission is granted to use this test package for NixFleet tests only.";

  mk = { pname, version, message, description }:
    (derivation {
      name = "${pname}-${version}";
      inherit pname version message license;
      system = builtins.currentSystem;
      builder = "/bin/sh";
      args = [ "-c" ''
        set -e
        /bin/mkdir -p "$out/bin" "$out/share/doc/$pname"
        /bin/printf '#!/bin/sh\n/bin/echo "%s"\n' "$message" > "$out/bin/$pname"
        /bin/chmod 0555 "$out/bin/$pname"
        /bin/printf '%s\n' "$license" > "$out/share/doc/$pname/LICENSE"
      '' ];
    }) // {
      meta = { inherit description; license = "nixfleet-test"; };
    };

  hello_1 = mk { pname = "hello"; version = "1.0"; message = "Hello, world!"; description = "Prints a greeting"; };
  hello_2 = mk { pname = "hello"; version = "2.0"; message = "Hello, world! (v2)"; description = "Prints a greeting"; };
  cowsay_1 = mk { pname = "cowsay"; version = "2.1"; message = "moo"; description = "A talking cow"; };
  cowsay_2 = mk { pname = "cowsay"; version = "2.2"; message = "moo moo"; description = "A talking cow"; };
in
{
  hello = if next then hello_2 else hello_1;
  cowsay = if next then cowsay_2 else cowsay_1;
  figlet = mk { pname = "figlet"; version = "2.2.5"; message = "FIGLET"; description = "Large letters"; };
  jq = mk { pname = "jq"; version = "1.6"; message = "{}"; description = "JSON processor"; };
  # Explicit versions, whatever `next` says (for upgrade/downgrade tests).
  inherit hello_1 hello_2 cowsay_1 cowsay_2;
}
