#!/bin/sh
# Installs the Debian packages luo-harness needs. Idempotent: packages that
# are already installed are left alone, and nothing is asked for when all are
# there. Escalates only when it must: as root it runs apt-get itself, as a
# user it asks sudo, and without sudo it prints the command to run as root.
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
echo "setup-host: installing$missing"
if [ "$(id -u)" -eq 0 ]; then
  sh -c "$cmd"
elif command -v sudo > /dev/null 2>&1; then
  sudo sh -c "$cmd"
else
  echo "setup-host: not root and no sudo; run as root:" >&2
  echo "  sh -c '$cmd'" >&2
  exit 1
fi
