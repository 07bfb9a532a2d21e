#!/usr/bin/env bash
# `make package`: the wheel and the Debian package, from a clean checkout.
#
#   dist/edge_agent-VERSION-py3-none-any.whl   the program with its packs, profiles,
#                                             systemd files, example config and docs
#   dist/edge-agent_VERSION_ARCH.deb           /opt/edge-agent: a Python environment on the
#                                             distribution's python3 with every dependency
#                                             bundled; unit, sysusers, tmpfiles, conffile
#
# Built for the machine it runs on: its architecture (dpkg --print-architecture) and its
# python3 (the .deb depends on that python3.X). Build on the release you install on:
# Debian 12 gives python3.11, Ubuntu 24.04 python3.12 (docs/install.md, "Building").
#
# Options:
#   --reuse        keep the bundled dependencies of an earlier build when pyproject.toml,
#                  the interpreter and the architecture are unchanged (tests use this)
#   --version V    the package version (default: pyproject's version)
#   --fast         no compression instead of xz (tests; same contents)
#   --out DIR      where the wheel and the .deb go (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

REUSE=0 FAST=0 VERSION="" OUT=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --reuse) REUSE=1 ;;
    --fast) FAST=1 ;;
    --version) VERSION=$2; shift ;;
    --out) OUT=$2; shift ;;
    *) echo "package: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

PY=${DEB_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "package: installing python3-venv"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYBIN=$("$PY" -c 'import sys, os; print(os.path.realpath(sys.executable))')
ARCH=$(dpkg --print-architecture)
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)}
PREFIX=/opt/edge-agent
BUILD=$SRC/build/package
DEPS=$BUILD/deps          # cached: the environment with the dependencies, as at $PREFIX
ROOT=$BUILD/root          # the .deb's file tree
mkdir -p "$OUT" "$BUILD"
OUT=$(cd "$OUT" && pwd)
key=$( (sha256sum pyproject.toml; "$PY" -VV; echo "$ARCH $PYBIN") | sha256sum | cut -c1-16)

t0=$(date +%s)
if [ "$REUSE" = 1 ] && [ -f "$DEPS/.deps-$key" ]; then
  echo "package: reusing bundled dependencies ($DEPS)"
else
  rm -rf "$DEPS"
  "$PY" -m venv "$DEPS"
  "$DEPS/bin/python" -m pip install -q --upgrade pip
fi

# 1. The wheel, built from the checkout (not from an editable install).
rm -f "$OUT"/edge_agent-*.whl
"$DEPS/bin/python" -m pip wheel -q --no-deps -w "$OUT" "$SRC"
WHEEL=$(ls "$OUT"/edge_agent-*.whl)

# 2. The environment: dependencies from wheels only (no compiler at build or install
#    time), no test tools, the program itself replaced on every build.
if [ ! -f "$DEPS/.deps-$key" ]; then
  "$DEPS/bin/python" -m pip install -q --no-compile --only-binary=:all: "$WHEEL"
  # Byte code as it will be found at $PREFIX: the service user cannot write there.
  "$PY" -m compileall -q -j 2 -s "$DEPS" -p "$PREFIX" "$DEPS/lib" >/dev/null
  touch "$DEPS/.deps-$key"
else
  "$DEPS/bin/python" -m pip install -q --no-compile --no-deps --force-reinstall "$WHEEL"
fi
for pkg in edge_agent drivers rules firmware_profiles fieldsim; do
  "$PY" -m compileall -q -f -s "$DEPS" -p "$PREFIX" "$DEPS/lib/python$PYVER/site-packages/$pkg" \
    >/dev/null
done

# 3. The package tree.
rm -rf "$ROOT"
mkdir -p "$ROOT$PREFIX"
cp -a "$DEPS/." "$ROOT$PREFIX/"
ENV=$ROOT$PREFIX
SITE=$ENV/lib/python$PYVER/site-packages
rm -rf "$ENV"/.deps-* "$ENV"/bin/activate* "$ENV"/bin/Activate.ps1 "$ENV"/bin/pip* \
  "$SITE"/pip "$SITE"/pip-* "$SITE"/setuptools "$SITE"/setuptools-* "$SITE"/_distutils_hack \
  "$SITE"/distutils-precedence.pth "$SITE"/pkg_resources
# Test suites of the dependencies are not run on a gateway; LLVM's symbol table is not needed.
for pkg in numpy numba llvmlite; do
  find "$SITE/$pkg" -depth -type d -name tests -exec rm -rf {} +
done
if command -v strip >/dev/null; then
  strip --strip-unneeded "$SITE"/llvmlite/binding/libllvmlite.so
fi
for f in "$ENV"/bin/*; do
  if [ -f "$f" ] && [ ! -L "$f" ] && head -c 2 "$f" | grep -q '^#!'; then
    sed -i "1s|^#!.*/bin/python[0-9.]*\$|#!$PREFIX/bin/python$PYVER|" "$f"
  fi
done
sed -i "s|^command = .*|command = $PYBIN -m venv $PREFIX|" "$ENV/pyvenv.cfg"
# The interpreter by its versioned name: a later python3 of the distribution (another
# minor version) must not run this environment's 3.X packages.
ln -sfn "$PYBIN" "$ENV/bin/python$PYVER"
ln -sfn "python$PYVER" "$ENV/bin/python3"
ln -sfn "python$PYVER" "$ENV/bin/python"
rm -f "$ENV/bin/f2py" "$ENV/bin/numpy-config"   # build tools (Fortran wrappers, C flags)
if grep -rIl --exclude-dir=__pycache__ "$BUILD" "$ENV/bin" "$ENV/pyvenv.cfg" >/dev/null; then
  echo "package: a build path is left in the environment:" >&2
  grep -rIl --exclude-dir=__pycache__ "$BUILD" "$ENV/bin" "$ENV/pyvenv.cfg" >&2
  exit 1
fi
SHARE=$ENV/share/edge-agent
install -D -m 0644 "$SHARE/systemd/edge-agent.service" "$ROOT/usr/lib/systemd/system/edge-agent.service"
install -D -m 0644 "$SHARE/systemd/edge-agent.sysusers.conf" "$ROOT/usr/lib/sysusers.d/edge-agent.conf"
install -D -m 0644 "$SHARE/systemd/edge-agent.tmpfiles.conf" "$ROOT/usr/lib/tmpfiles.d/edge-agent.conf"
install -D -m 0640 "$SHARE/gateway.toml" "$ROOT/etc/edge-agent/gateway.toml"
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/share/doc/edge-agent"
ln -s "$PREFIX/bin/edge-agent" "$ROOT/usr/bin/edge-agent"
cp "$ENV"/share/doc/edge-agent/* "$ROOT/usr/share/doc/edge-agent/"
install -m 0644 packaging/debian/copyright "$ROOT/usr/share/doc/edge-agent/copyright"
chmod -R u+rwX,go+rX,go-w "$ROOT"
chmod 0640 "$ROOT/etc/edge-agent/gateway.toml"

mkdir -p "$ROOT/DEBIAN"
size_kb=$(du -sk --apparent-size "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$size_kb/" \
  -e "s/@PYTHON_PACKAGE@/python$PYVER/" packaging/debian/control.in >"$ROOT/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$ROOT/DEBIAN/conffiles"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm \
  "$ROOT/DEBIAN/"

DEB=$OUT/edge-agent_${VERSION}_${ARCH}.deb
rm -f "$OUT"/edge-agent_*_"$ARCH".deb
if [ "$FAST" = 1 ]; then comp=(-Znone); else comp=(-Zxz -z6); fi
dpkg-deb --root-owner-group "${comp[@]}" --build "$ROOT" "$DEB" >/dev/null
echo "package: $WHEEL"
echo "package: $DEB ($(du -k "$DEB" | cut -f1) kB; installed $size_kb kB; python$PYVER; $(($(date +%s) - t0)) s)"
