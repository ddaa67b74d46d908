#!/bin/sh
# Builds the Debian packages from an already built tree:
#   scripts/deb.sh BUILD   ->  BUILD/ducat_VERSION-1_ARCH.deb      ducatd, ducat, unit, man pages
#                              BUILD/ducat-dev_VERSION-1_ARCH.deb  headers, static libraries, .pc
# (`make deb` builds BUILD=build-deb with dpkg-buildflags, then calls this.)
# Debian's own tools do the work: dpkg-shlibdeps finds the library
# dependencies, dpkg-deb builds the archive with root-owned files; the
# maintainer scripts, unit and completion are in dist/.
set -e
B=$1
[ -x "$B/ducatd" ] && [ -x "$B/ducat" ] && [ -f "$B/libducat.a" ] && [ -f "$B/libducat-wallet.a" ] ||
    { echo "deb.sh: build $B/ducatd, $B/ducat and the static libraries first" >&2; exit 2; }
VERSION=$("$B/ducatd" --version | sed 's/^ducatd //')
ARCH=$(dpkg --print-architecture)
R=$B/deb/root
# The operator building the package names itself (DEB_MAINTAINER_EMAIL).
MAINTAINER_EMAIL=${DEB_MAINTAINER_EMAIL:-ducat@example.org}
rm -rf "$B/deb"
mkdir -p "$R/DEBIAN"
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

install -d -m 755 "$R/usr/bin" "$R/lib/systemd/system" "$R/usr/share/bash-completion/completions" \
    "$R/usr/share/doc/ducat" "$R/usr/share/man/man1" "$R/usr/share/man/man5" "$R/usr/share/man/man8"
for p in ducatd ducat; do
    install -m 755 "$B/$p" "$R/usr/bin/$p"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$R/usr/bin/$p"
done
install -m 644 dist/ducatd.service "$R/lib/systemd/system/ducatd.service"
install -m 644 dist/ducat.bash-completion "$R/usr/share/bash-completion/completions/ducat"
ln -s ducat "$R/usr/share/bash-completion/completions/ducatd"

scripts/man.sh "$B" "$B/deb/man"
for m in ducat.1 ducat.conf.5 ducatd.8; do
    s=${m##*.}
    gzip -9n < "$B/deb/man/$m" > "$R/usr/share/man/man$s/$m.gz"
done

D=$R/usr/share/doc/ducat
install -m 644 dist/debian/copyright "$D/copyright"
install -m 644 README.md "$D/README.md"
for f in OPERATIONS.md DEPLOY.md API.md CLI.md PROTOCOL.md ERRORS.md alerts.yml; do
    [ -f "docs/$f" ] && gzip -9n < "docs/$f" > "$D/$f.gz"
done
sed -e "s/@VERSION@/$VERSION/" -e "s/@MAINTAINER_EMAIL@/$MAINTAINER_EMAIL/" -e "s/@DATE@/$(date -u -R -d "@$SOURCE_DATE_EPOCH")/" \
    dist/debian/changelog | gzip -9n > "$D/changelog.Debian.gz"

for s in postinst prerm postrm; do install -m 755 "dist/debian/$s" "$R/DEBIAN/$s"; done

# dpkg-shlibdeps reads debian/control of a source package: give it a minimal one.
W=$B/deb/work
mkdir -p "$W/debian"
printf 'Source: ducat\n\nPackage: ducat\nArchitecture: any\n' > "$W/debian/control"
deps=$(cd "$W" && dpkg-shlibdeps -O "$OLDPWD/$R/usr/bin/ducatd" "$OLDPWD/$R/usr/bin/ducat" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$deps" ] || { echo "deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
sed -e "s/@VERSION@/$VERSION-1/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$deps/" -e "s/@MAINTAINER_EMAIL@/$MAINTAINER_EMAIL/" dist/debian/control.in > "$R/DEBIAN/control"
(cd "$R" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    > "$R/DEBIAN/md5sums"
chmod 644 "$R/DEBIAN/md5sums" "$R/DEBIAN/control"
out=$B/ducat_${VERSION}-1_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$R" "$out" > /dev/null
echo "$out"

# ducat-dev: the headers, the static libraries (no shared library is
# packaged: a libducat0 would need a stable ABI and a symbols file first)
# and pkg-config files whose libdir is the multiarch directory.
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
R=$B/deb/root-dev
install -d -m 755 "$R/DEBIAN" "$R/usr/include/ducat" "$R/usr/lib/$MA/pkgconfig" \
    "$R/usr/share/doc/ducat-dev"
install -m 644 include/ducat/*.h include/ducat/*.def "$R/usr/include/ducat/"
for l in libducat.a libducat-wallet.a; do
    install -m 644 "$B/$l" "$R/usr/lib/$MA/$l"
    strip --strip-debug --enable-deterministic-archives --remove-section=.comment \
        --remove-section=.note "$R/usr/lib/$MA/$l"
done
for p in ducat ducat-wallet; do
    sed -e 's|@PREFIX@|/usr|' -e "s|@VERSION@|$VERSION|" -e "s|^libdir=.*|libdir=\${prefix}/lib/$MA|" \
        "$p.pc.in" > "$R/usr/lib/$MA/pkgconfig/$p.pc"
    chmod 644 "$R/usr/lib/$MA/pkgconfig/$p.pc"
done
D=$R/usr/share/doc/ducat-dev
install -m 644 dist/debian/copyright "$D/copyright"
sed -e "s/@VERSION@/$VERSION/" -e "s/@MAINTAINER_EMAIL@/$MAINTAINER_EMAIL/" -e "s/@DATE@/$(date -u -R -d "@$SOURCE_DATE_EPOCH")/" \
    dist/debian/changelog | gzip -9n > "$D/changelog.Debian.gz"
size=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
sed -e "s/@VERSION@/$VERSION-1/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" \
    -e "s/@MAINTAINER_EMAIL@/$MAINTAINER_EMAIL/" dist/debian/control-dev.in > "$R/DEBIAN/control"
(cd "$R" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    > "$R/DEBIAN/md5sums"
chmod 644 "$R/DEBIAN/md5sums" "$R/DEBIAN/control"
out=$B/ducat-dev_${VERSION}-1_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$R" "$out" > /dev/null
echo "$out"
