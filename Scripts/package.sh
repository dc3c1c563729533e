#!/usr/bin/env bash
# Builds the release archive: dist/kallima-VERSION-linux-x86_64.tar.xz and its .sha256.
# It runs on a Linux x86-64 machine with glibc 2.35 or newer (Debian 12, Ubuntu 22.04) and
# an OpenCL driver, without Swift, CLBlast or PoCL installed:
#   - bin/kallima links the Swift standard library and Foundation statically;
#   - lib/ holds the shared libraries a plain system lacks (CLBlast, OpenBLAS with its
#     Fortran runtime, libpng, libjpeg, the OpenCL ICD loader), found through the binary's
#     RPATH $ORIGIN/../lib, so no launcher or LD_LIBRARY_PATH is needed; the C and C++
#     runtimes and zlib, which every such system has, come from the system;
#   - licenses/ holds the licences of everything bundled or linked in.
# The OpenCL driver itself (NVIDIA, AMD, Intel, PoCL) is the machine's own, found by the ICD
# loader through /etc/OpenCL/vendors (or OCL_ICD_VENDORS).
#
#   Scripts/package.sh           # build the archive
#   Scripts/package.sh --check   # build it, then unpack it in a temporary folder and run
#                                # `kallima devices` and `kallima selftest --quick` from there
#                                # in a clean environment, failing if the dynamic loader
#                                # (LD_DEBUG=libs) takes any library from the Swift toolchain
#                                # or the build tree, or a system copy of one that is bundled.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: Scripts/package.sh [--check]" >&2; exit 64 ;;
esac
for tool in xz strip sha256sum ldd dpkg-query; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing; Scripts/setup.sh installs it" >&2; exit 1; }
done

# Its own scratch folder: the linker flags differ from a plain release build's, and sharing
# .build/release would rebuild one or the other every time.
scratch=.build/package
echo "package: building kallima (release, static Swift standard library)" >&2
swift build -c release --product kallima --static-swift-stdlib --scratch-path "$scratch" \
  -Xlinker --disable-new-dtags -Xlinker -rpath -Xlinker '$ORIGIN/../lib' >&2
built="$scratch/release/kallima"
version=$("$built" --version)
name="kallima-$version-linux-x86_64"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/bin" "$stage/$name/lib" "$stage/$name/licenses"
strip -o "$stage/$name/bin/kallima" "$built"

# Every library the binary loads, except what every glibc system has. DT_RPATH (not RUNPATH,
# hence --disable-new-dtags) also applies to the libraries' own dependencies, such as
# OpenBLAS's libgfortran.
system='^(linux-vdso|ld-linux-x86-64|libc|libm|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s|libz)\.so'
packages=()
while read -r soname path; do
  [[ "$soname" =~ $system ]] && continue
  case "$path" in
    /opt/*|"$root"/*) echo "package: $soname resolves to $path, outside the system's libraries" >&2; exit 1 ;;
  esac
  cp -L "$path" "$stage/$name/lib/$soname"
  packages+=("$(dpkg-query -S "$(readlink -f "$path")" | head -1 | cut -d: -f1)")
done < <(ldd "$built" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')

# Licences: Kallima's dependencies' Debian copyright files, and the Swift toolchain's (the
# standard library, Foundation and ICU are linked in).
for package in $(printf '%s\n' "${packages[@]}" | sort -u); do
  cp "/usr/share/doc/$package/copyright" "$stage/$name/licenses/$package.copyright"
done
swift_root=$(cd "$(dirname "$(readlink -f "$(command -v swift)")")/.." && pwd)
cp "$swift_root/share/swift/LICENSE.txt" "$stage/$name/licenses/swift.LICENSE.txt"

cat > "$stage/$name/README.txt" <<EOF
Kallima $version for Linux x86-64: GAN training on any OpenCL device.

  bin/kallima devices             # the OpenCL devices this machine's drivers offer
  bin/kallima selftest --quick    # does this device compute Kallima's kernels correctly? (about a minute)
  bin/kallima train --data ~/images --size 64 --steps 20000 --out runs/faces
  bin/kallima --help

Needs glibc 2.35 or newer (Debian 12, Ubuntu 22.04 or later) and an OpenCL driver
registered in /etc/OpenCL/vendors (point OCL_ICD_VENDORS at a folder of .icd files
otherwise); nothing else. lib/ holds the bundled libraries, found by bin/kallima itself;
bin/kallima may be linked into a folder on PATH. \`kallima train\` without --data needs
Debian's dataset-fashion-mnist package. Licences of the bundled and linked-in parts: licenses/.
EOF

mkdir -p dist
archive="dist/$name.tar.xz"
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -cf - "$name" \
  | xz -T0 -6 > "$archive.partial"
mv "$archive.partial" "$archive"
(cd dist && sha256sum "$name.tar.xz" > "$name.tar.xz.sha256")
echo "package: $archive: $(du -k "$archive" | cut -f1) KiB ($(du -sk "$stage/$name" | cut -f1) KiB unpacked)" >&2
echo "package: bundled: $(ls "$stage/$name/lib" | tr '\n' ' ')" >&2
echo "$archive"

$check || exit 0

# The check: the archive unpacked alone, run with an environment that names nothing of the
# toolchain's, and the loader's record of every library it mapped.
(cd dist && sha256sum --quiet -c "$name.tar.xz.sha256")
unpacked=$(realpath "$(mktemp -d)")
trap 'rm -rf "$stage" "$unpacked"' EXIT
xz -dc "$archive" | tar -C "$unpacked" -xf -
exe="$unpacked/$name/bin/kallima"
bundled="$unpacked/$name/lib"
forward=()
for variable in HOME KALLIMA_DEVICE OCL_ICD_VENDORS; do
  [ -n "${!variable:-}" ] && forward+=("$variable=${!variable}")
done

run_checked() {
  local log="$unpacked/loader-$1"
  echo "package: check: kallima $*" >&2
  env -i PATH=/usr/local/bin:/usr/bin:/bin "${forward[@]}" LD_DEBUG=libs LD_DEBUG_OUTPUT="$log" "$exe" "$@"
  local loaded
  loaded=$(sed -n 's/.*calling init: \(\/.*\)$/\1/p' "$log".* | xargs -r realpath | sort -u)
  local failed=0 path base
  echo "package: check: libraries kallima $1 loaded, and from where:" >&2
  while read -r path; do
    base=$(basename "$path")
    if [[ "$path" == "$bundled/"* ]]; then
      echo "  archive  $base" >&2
    elif [[ "$path" == "$swift_root/"* || "$path" == "$root/"* ]]; then
      echo "  TOOLCHAIN/BUILD TREE  $path" >&2; failed=1
    elif [ -e "$bundled/$base" ]; then
      echo "  SYSTEM COPY OF A BUNDLED LIBRARY  $path" >&2; failed=1
    else
      echo "  system   $path" >&2
    fi
  done <<< "$loaded"
  for path in "$bundled"/*; do
    grep -qxF "$path" <<< "$loaded" || { echo "  NOT LOADED FROM THE ARCHIVE  $(basename "$path")" >&2; failed=1; }
  done
  [ "$failed" -eq 0 ] || { echo "package: check failed: kallima $1 loaded libraries from outside the archive" >&2; exit 1; }
}

run_checked devices
run_checked selftest --quick
echo "package: check passed: $archive runs from its own folder and the system's C runtime and OpenCL driver" >&2
