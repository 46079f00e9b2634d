#!/usr/bin/env bash
# Build the images the tests and the demo run, FROM scratch, out of static binaries, with no
# registry:
#   berth/busybox:latest  Debian's busybox-static with its applet links (sh, httpd, sleep,
#                         cat, wget, ...); no entrypoint, default command `sh`.
#   stress:latest         scripts/images/stress.c compiled with gcc -static; its entrypoint
#                         takes the classic stress options (--vm N --vm-bytes SIZE --cpu N
#                         --timeout S), so Charmander's stress60mb task runs as written.
# Idempotent: an image is rebuilt only when its inputs changed (a hash kept in a label), so
# a second run takes about a second. Installs busybox-static / gcc / libc6-dev with apt-get
# when they are missing (needs root then). Needs a running engine (scripts/dockerd.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DOCKER_BUILDKIT=0  # the classic builder: no buildx plugin needed, nothing pulled

need_packages=()
[ -x /usr/bin/busybox ] && /usr/bin/busybox --list >/dev/null 2>&1 \
  && ! ldd /usr/bin/busybox >/dev/null 2>&1 || need_packages+=(busybox-static)
command -v gcc >/dev/null 2>&1 || need_packages+=(gcc)
[ -e /usr/include/stdio.h ] || need_packages+=(libc6-dev)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "local-images.sh: installing ${need_packages[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

# build IMAGE HASH CONTEXT: build CONTEXT (holding a Dockerfile) unless IMAGE already
# carries label berth.inputs=HASH.
build() {
  local image=$1 hash=$2 context=$3 have
  have=$(docker image inspect --format '{{ index .Config.Labels "berth.inputs" }}' "$image" \
         2>/dev/null || true)
  if [ "$have" = "$hash" ]; then
    echo "local-images.sh: $image is up to date" >&2
    return 0
  fi
  echo "local-images.sh: building $image" >&2
  # The classic builder warns that it is deprecated on every run; show its output only
  # when the build fails.
  if ! docker build -q --label "berth.inputs=$hash" -t "$image" "$context" \
       >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    return 1
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- berth/busybox -----------------------------------------------------------------------
busybox_hash=$( { sha256sum /usr/bin/busybox; sha256sum "$0"; } | sha256sum | cut -c1-16)
mkdir -p "$work/busybox/rootfs/bin" "$work/busybox/rootfs/etc" "$work/busybox/rootfs/tmp" \
         "$work/busybox/rootfs/var/www" "$work/busybox/rootfs/root"
cp /usr/bin/busybox "$work/busybox/rootfs/bin/busybox"
for applet in $(/usr/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/busybox/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
  >"$work/busybox/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/busybox/rootfs/etc/group"
chmod 1777 "$work/busybox/rootfs/tmp"
cat >"$work/busybox/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin
CMD ["sh"]
EOF
build berth/busybox:latest "$busybox_hash" "$work/busybox"

# --- stress ------------------------------------------------------------------------------
stress_hash=$( { sha256sum "$here/images/stress.c"; sha256sum "$0"; } | sha256sum | cut -c1-16)
have=$(docker image inspect --format '{{ index .Config.Labels "berth.inputs" }}' stress:latest \
       2>/dev/null || true)
if [ "$have" != "$stress_hash" ]; then
  mkdir -p "$work/stress"
  gcc -static -O2 -Wall -Wextra -o "$work/stress/stress" "$here/images/stress.c"
  strip "$work/stress/stress" 2>/dev/null || true
  cat >"$work/stress/Dockerfile" <<'EOF'
FROM scratch
COPY stress /stress
ENTRYPOINT ["/stress"]
EOF
fi
build stress:latest "$stress_hash" "$work/stress"
