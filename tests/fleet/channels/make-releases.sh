#!/usr/bin/env bash
# Builds test channel releases laid out the way a channel server serves them, for upgrade tests
# (serve them with serve.py; see README.md next to this file):
#
#   OUTDIR/releases/RELEASE/nixexprs.tar.xz   the channel tarball (+ git-revision, like releases.nixos.org)
#   OUTDIR/nixos-24.05 -> releases/nixos-24.05.7376.b134951a4c9f    NixOS stand-in channels:
#   OUTDIR/nixos-24.11 -> releases/nixos-24.11.710315.b681065d0919  serve.py redirects a channel to its
#   OUTDIR/nixpkgs-old -> releases/nixpkgs-24.05pre612345.0a1b2c3d4e5f  release, as channels.nixos.org does
#   OUTDIR/nixpkgs-new -> releases/nixpkgs-24.11pre712345.5f4e3d2c1b0a  Nix-only channels (hello 1.0 / 2.0)
#   OUTDIR/html/nixexprs.tar.xz        an HTML page (what a captive portal or a wrong URL gives)
#   OUTDIR/truncated/nixexprs.tar.xz   the 24.11 tarball cut in half
#   (a missing channel needs nothing: serve.py answers 404)
#
# A NixOS stand-in tarball's top directory holds default.nix (the test package set), .version,
# .version-suffix, .git-revision, the fleet's pkgs.nix, system.nix and switch-to-configuration.sh,
# and nixos/default.nix: with NIX_PATH=nixpkgs=<unpacked channel>,
#   nix-build '<nixpkgs/nixos>' -A system --no-out-link
# builds a system exactly as tests/fleet/nix/system.nix does, with nixos-version = .version +
# .version-suffix (24.11.710315.b681065d0919) and hostName from /etc/hostname (or --argstr hostName).
# No network, only absolute paths (/bin/sh...). Tarballs are reproducible (owner 0, mtime 1).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nix_src="$here/../nix"
command -v xz >/dev/null || { echo "$0: xz is needed (apt-get install xz-utils)" >&2; exit 1; }

mkdir -p "$out/releases"
out="$(cd "$out" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# RELEASE KIND(nixos|nixpkgs) VERSION SUFFIX GIT_REVISION NEXT(true|false) GENERATION CODENAME
release() {
  local name=$1 kind=$2 version=$3 suffix=$4 rev=$5 next=$6 generation=$7 codename=${8:-}
  local top="$work/$name" dir="$out/releases/$name"
  rm -rf "$top"
  mkdir -p "$top"
  cp "$nix_src/pkgs.nix" "$top/pkgs.nix"
  printf '{ ... }@args: import ./pkgs.nix (args // { next = %s; })\n' "$next" >"$top/default.nix"
  # As nixos/lib/make-channel.nix writes them: .version has a newline, the others none.
  printf '%s\n' "$version" >"$top/.version"
  printf '%s' "$suffix" >"$top/.version-suffix"
  printf '%s' "$rev" >"$top/.git-revision"
  if [ "$kind" = nixos ]; then
    cp "$nix_src/system.nix" "$nix_src/switch-to-configuration.sh" "$top/"
    mkdir -p "$top/nixos"
    sed -e "s|@generation@|$generation|g" -e "s|@next@|$next|g" -e "s|@codename@|$codename|g" >"$top/nixos/default.nix" <<'NIX'
# NixOS stand-in of a test channel: `nix-build '<nixpkgs/nixos>' -A system` builds the system
# tests/fleet/nix/system.nix builds (copied next to this directory), as this channel's release:
# nixos-version is .version + .version-suffix, the kernel is that of system.nix's generation
# @generation@, the packages are hello 2.0 and this release's cowsay, and `nixos-version` (in sw/bin)
# names this release's code name.
{ hostName ? null, ... }:
let
  trim = s: let m = builtins.match "[[:space:]]*([^[:space:]]+)[[:space:]]*" s; in if m == null then null else builtins.head m;
  fromEtc = if builtins.pathExists /etc/hostname then trim (builtins.readFile /etc/hostname) else null;
  name = if hostName != null then hostName else if fromEtc != null then fromEtc else "nixos";
  release = trim (builtins.readFile ../.version);
  suffix = builtins.readFile ../.version-suffix;
  revision = builtins.readFile ../.git-revision;
  nixosVersion = release + suffix;
  codeName = "@codename@";
  pkgs = import ../pkgs.nix { next = @next@; };
  base = import ../system.nix { hostName = name; generation = @generation@; };
  systemPath = derivation (base.systemPath.drvAttrs // {
    inherit nixosVersion;
    packages = [ pkgs.hello_2 pkgs.cowsay ];
    args = map (builtins.replaceStrings [ "(Uakari)" ] [ "(${codeName})" ]) base.systemPath.drvAttrs.args;
  });
  system = derivation (base.drvAttrs // {
    name = "nixos-system-${name}-${nixosVersion}";
    inherit nixosVersion systemPath;
  });
in
{
  inherit system;
  config = {
    networking.hostName = name;
    system.build.toplevel = system;
    system.nixos = { version = nixosVersion; inherit release revision codeName; };
  };
}
NIX
  fi
  tar -C "$work" --owner=0 --group=0 --numeric-owner --mtime=@1 --sort=name -cJf "$work/$name.tar.xz" "$name"
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$work/$name.tar.xz" "$dir/nixexprs.tar.xz"
  printf '%s' "$rev" >"$dir/git-revision"
}

# CHANNEL RELEASE: the channel's URL redirects to its current release.
channel() {
  rm -rf "${out:?}/$1"
  ln -sfn "releases/$2" "$out/$1"
}

release nixos-24.05.7376.b134951a4c9f nixos 24.05 .7376.b134951a4c9f \
  b134951a4c9f3c995fd7be05f3243f8ecd65d798 false 3 Uakari
release nixos-24.11.710315.b681065d0919 nixos 24.11 .710315.b681065d0919 \
  b681065d0919e1f3d3c0b6b1c5d2f9e8a7c6b5a4 true 11 Vicuna
release nixpkgs-24.05pre612345.0a1b2c3d4e5f nixpkgs 24.05 pre612345.0a1b2c3d4e5f \
  0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 false 0
release nixpkgs-24.11pre712345.5f4e3d2c1b0a nixpkgs 24.11 pre712345.5f4e3d2c1b0a \
  5f4e3d2c1b0a98765432f1e0d9c8b7a654321098 true 0
channel nixos-24.05 nixos-24.05.7376.b134951a4c9f
channel nixos-24.11 nixos-24.11.710315.b681065d0919
channel nixpkgs-old nixpkgs-24.05pre612345.0a1b2c3d4e5f
channel nixpkgs-new nixpkgs-24.11pre712345.5f4e3d2c1b0a

# Broken channels.
rm -rf "$out/html" "$out/truncated"
mkdir -p "$out/html" "$out/truncated"
cat >"$out/html/nixexprs.tar.xz" <<'HTML'
<!DOCTYPE html>
<html><head><title>Sign in to continue</title></head>
<body><h1>Sign in to continue</h1><p>This network requires you to sign in.</p></body></html>
HTML
full="$out/releases/nixos-24.11.710315.b681065d0919/nixexprs.tar.xz"
head -c $(($(stat -c %s "$full") / 2)) "$full" >"$out/truncated/nixexprs.tar.xz"

echo "$out"
