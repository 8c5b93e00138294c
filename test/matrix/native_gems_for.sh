# Run by bin/debian-root inside a Debian root, as root, with sh -e:
#
#   native_gems_for.sh RUBY SOURCE_PACKAGE...     e.g. ruby3.4 ruby-sqlite3
#
# Debian builds its native Ruby gems (sqlite3, ...) for its default Ruby
# only. This builds each from Debian's own source package, at the version
# installed, for RUBY, installing
# every shared object where Debian installed the default Ruby's, under
# RUBY's API folder instead, and the package's gem specification likewise,
# so `require "pg"` and `gem "pg"` work on RUBY as they do on the default.
ruby=$1
shift
api=$("$ruby" -e 'print RbConfig::CONFIG["ruby_version"]')
work=$(mktemp -d)
cd "$work"
for pkg in "$@"; do
  version=$(dpkg-query -W -f='${Version}' "$pkg")
  apt-get -o Acquire::Check-Valid-Until=false source -qq "$pkg=$version" >/dev/null 2>&1 ||
    { echo "apt-get source $pkg=$version failed: the archive has no source for it" >&2; exit 1; }
  src=$(find . -maxdepth 1 -type d -name "$pkg-*" | head -1)
  [ -n "$src" ] || { echo "no source tree for $pkg" >&2; exit 1; }
  for extconf in $(find "$src/ext" -name extconf.rb); do
    (cd "$(dirname "$extconf")" && "$ruby" extconf.rb --enable-system-libraries >/dev/null && make -s >/dev/null 2>&1) ||
      { echo "building $extconf for $ruby failed" >&2; exit 1; }
  done
  # Every file the package installed under the default Ruby's API folder
  # (.../3.3.0/...: its gem's lib, specification, extension), at the same
  # path with RUBY's API; the extension built for RUBY.
  for installed in $(dpkg -L "$pkg"); do
    [ -f "$installed" ] || continue
    theirs=$(echo "$installed" | grep -oE '/[0-9]+\.[0-9]+\.0/' | head -1)
    [ -n "$theirs" ] || continue
    target=$(echo "$installed" | sed "s#$theirs#/$api/#g")
    mkdir -p "$(dirname "$target")"
    case "$installed" in
      *.so)
        built=$(find "$src/ext" -name "$(basename "$installed")" | head -1)
        [ -n "$built" ] || { echo "$pkg: built no $(basename "$installed")" >&2; exit 1; }
        cp "$built" "$target.tmp"
        mv "$target.tmp" "$target"
        ;;
      *.gemspec) sed "s#$theirs#/$api/#g" "$installed" > "$target" ;;
      *) cp "$installed" "$target" ;;
    esac
  done
done
cd /
rm -rf "$work"
