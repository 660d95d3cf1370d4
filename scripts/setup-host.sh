#!/bin/sh
# Installs the Debian packages luo-harness needs. Idempotent: packages that
# are already installed are left alone. As non-root, prints the command.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
packages=$(grep -v '^#' "$here/host-packages.txt" | tr '\n' ' ')
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "setup-host: all packages present"
  exit 0
fi
cmd="apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: missing:$missing"
  echo "run as root:  sudo sh -c '$cmd'"
  exit 1
fi
echo "setup-host: installing$missing"
sh -c "$cmd"
