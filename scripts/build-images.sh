#!/usr/bin/env bash
# Builds every image of the local-images mode (BCDR_LOCAL_IMAGES=1) with no
# registry at all:
#   bcdr/aos-stub:local     FROM scratch + static ./cmd/aos-stub
#   bcdr/s3:local           FROM scratch + static ./images/s3server (gofakes3)
#   bcdr/toxiproxy:local    FROM scratch + static Toxiproxy server (module cache)
#   bcdr/postgres:15-local  Debian bookworm root filesystem with postgresql-15,
#                           made by debootstrap and brought in with docker import
#   bcdr/minio:local        FROM scratch + static MinIO server and mc client,
#                           built from their Go modules at the versions below
# Every image carries the label bcdr.image=1. The PostgreSQL image is cached:
# it is built only when the tag is missing (about 90 s and 630 MiB); set
# BCDR_REBUILD_POSTGRES=1 to rebuild it. The Go images are rebuilt every time
# (seconds). The MinIO image is cached by version: it is rebuilt only when its
# labels do not record MINIO_VERSION and MC_VERSION below (first build about
# 9 min on 2 cores; BCDR_REBUILD_MINIO=1 forces it).
# Usage: scripts/build-images.sh [aos-stub|s3|toxiproxy|postgres|minio ...]
set -euo pipefail

# The one place naming the MinIO versions. Both programs are AGPL: they are
# built from their own modules into their own image and run only as separate
# programs there; they are never in go.mod and none of their code is here.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9

cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d -t bcdr-images.XXXXXX)
cleanup() {
	# The debootstrap tree holds proc/sys mounts while it runs; unmount first.
	for m in proc sys dev/pts dev; do umount -l "$work/rootfs/$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

log() { printf 'build-images: %s\n' "$*" >&2; }

# go_image TAG DOCKERFILE_DIR GO_PACKAGE
go_image() {
	local tag=$1 dir=$2 pkg=$3 ctx="$work/$(basename "$2")"
	mkdir -p "$ctx"
	log "building $tag from $pkg"
	(cd "$root" && CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o "$ctx/app" "$pkg")
	cp "$dir/Dockerfile" "$ctx/Dockerfile"
	# The legacy builder needs nothing from a registry for FROM scratch.
	if ! DOCKER_BUILDKIT=0 docker build -q --label bcdr.image=1 -t "$tag" "$ctx" >"$ctx/build.log" 2>&1; then
		cat "$ctx/build.log" >&2
		log "docker build of $tag failed"
		exit 1
	fi
	log "built $tag"
}

postgres_image() {
	local tag=bcdr/postgres:15-local
	if [[ "${BCDR_REBUILD_POSTGRES:-}" != 1 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
		log "$tag exists (cached); BCDR_REBUILD_POSTGRES=1 rebuilds it"
		return
	fi
	if ! command -v debootstrap >/dev/null; then
		log "debootstrap is missing; installing it with apt-get"
		# Wait for another apt run (a lock held elsewhere failed the build)
		# and fetch the package lists when they are missing or stale.
		apt-get -o DPkg::Lock::Timeout=600 install -y debootstrap >/dev/null ||
			{ apt-get -o DPkg::Lock::Timeout=600 update -qq &&
				apt-get -o DPkg::Lock::Timeout=600 install -y debootstrap >/dev/null; }
	fi
	local mirror=${BCDR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	log "debootstrap bookworm with postgresql-15 from $mirror (about 90 s)"
	debootstrap --variant=minbase --include=postgresql-15 bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -20 "$work/debootstrap.log" >&2
		log "debootstrap failed (full log above)"
		exit 1
	}
	for m in proc sys dev/pts dev; do umount -l "$work/rootfs/$m" 2>/dev/null || true; done
	# Drop what a database container never needs.
	rm -rf "$work/rootfs/var/cache/apt/archives"/*.deb "$work/rootfs/var/lib/apt/lists"/* \
		"$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man" "$work/rootfs/usr/share/locale"
	log "importing $tag"
	tar -C "$work/rootfs" -c . | docker import \
		--change 'LABEL bcdr.image=1 bcdr.component=postgres' \
		--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8 PGDATA=/var/lib/postgresql/data' \
		--change 'USER postgres' \
		--change 'WORKDIR /var/lib/postgresql' \
		--change 'CMD ["postgres", "--version"]' \
		- "$tag" >/dev/null
	rm -rf "$work/rootfs"
	log "built $tag"
}

minio_image() {
	local tag=bcdr/minio:local have
	have=$(docker image inspect -f '{{index .Config.Labels "bcdr.minio.version"}} {{index .Config.Labels "bcdr.mc.version"}}' "$tag" 2>/dev/null || true)
	if [[ "${BCDR_REBUILD_MINIO:-}" != 1 && "$have" == "$MINIO_VERSION $MC_VERSION" ]]; then
		log "$tag holds minio $MINIO_VERSION and mc $MC_VERSION (cached); BCDR_REBUILD_MINIO=1 rebuilds it"
		return
	fi
	local ctx="$work/minio" start=$SECONDS
	mkdir -p "$ctx/bin" "$ctx/tmp" "$ctx/data"
	chmod 1777 "$ctx/tmp"
	# go install pkg@version builds the module on its own, outside this
	# repository's go.mod, into a directory of its own (GOBIN).
	local m
	for m in "github.com/minio/mc@$MC_VERSION" "github.com/minio/minio@$MINIO_VERSION"; do
		log "go install $m (minio: about 7 min on 2 cores the first time)"
		(cd "$work" && GOWORK=off GOFLAGS=-trimpath GOBIN="$ctx/bin" CGO_ENABLED=0 GOOS=linux \
			go install "$m") || { log "go install $m failed"; exit 1; }
	done
	mv "$ctx/bin/minio" "$ctx/bin/mc" "$ctx/"
	cp images/minio/Dockerfile "$ctx/Dockerfile"
	if ! DOCKER_BUILDKIT=0 docker build -q --label bcdr.image=1 \
		--label "bcdr.minio.version=$MINIO_VERSION" --label "bcdr.mc.version=$MC_VERSION" \
		-t "$tag" "$ctx" >"$ctx/build.log" 2>&1; then
		cat "$ctx/build.log" >&2
		log "docker build of $tag failed"
		exit 1
	fi
	log "built $tag in $((SECONDS - start)) s"
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(aos-stub s3 toxiproxy postgres minio)
for t in "${targets[@]}"; do
	case $t in
	aos-stub)
		if [[ -d cmd/aos-stub ]]; then
			go_image bcdr/aos-stub:local images/aos-stub ./cmd/aos-stub
		else
			log "cmd/aos-stub does not exist yet; skipping bcdr/aos-stub:local"
		fi
		;;
	s3) go_image bcdr/s3:local images/s3server ./images/s3server ;;
	toxiproxy) go_image bcdr/toxiproxy:local images/toxiproxy github.com/Shopify/toxiproxy/v2/cmd/server ;;
	postgres) postgres_image ;;
	minio) minio_image ;;
	*)
		log "unknown image $t (want aos-stub, s3, toxiproxy, postgres or minio)"
		exit 254
		;;
	esac
done
