# shellcheck shell=bash
# Common helpers for the VexFS QEMU harness (sourced by scripts/vm-exec,
# scripts/install-deps and scripts/vm/*).  Not executable on its own.

VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
VM_REPO=$(cd "$VM_LIB_DIR/../.." && pwd -P)

# Cache shared by every clone on the machine.  Override with VEXFS_VM_CACHE.
VM_CACHE=${VEXFS_VM_CACHE:-/var/cache/vexfs-vm}

vm_msg() { printf 'vm-exec: %s\n' "$*" >&2; }
vm_die() {
	local rc=${VM_DIE_RC:-203}
	printf 'vm-exec: error: %s\n' "$*" >&2
	exit "$rc"
}

# Run apt-get non-interactively; wait for the dpkg/apt locks instead of
# failing when another process is installing packages.
vm_apt_get() {
	local try err
	err=$(mktemp)
	for try in 1 2 3 4 5 6 7 8 9 10 11 12; do
		if DEBIAN_FRONTEND=noninteractive apt-get -q -y \
			-o DPkg::Lock::Timeout=900 \
			-o Dpkg::Options::=--force-confdef \
			-o Dpkg::Options::=--force-confold \
			"$@" </dev/null 2> >(tee "$err" >&2); then
			rm -f "$err"
			return 0
		fi
		sleep 0.2 # let tee finish writing
		# apt-get update / download take locks that Lock::Timeout does not
		# cover on every apt version: retry those; fail other errors at once.
		grep -qiE 'lock-frontend|Could not get lock|Unable to acquire|is held by process' "$err" || break
		sleep $((try * 5))
	done
	rm -f "$err"
	return 1
}

# Resolve a --kernel argument to a Debian kernel release string.
#   6.1  -> dependency of linux-image-cloud-amd64
#   6.12 -> dependency of linux-image-6.12-cloud-amd64
#   anything else is taken as a full release (e.g. 6.1.0-56-cloud-amd64)
vm_resolve_kernel() {
	local want=${1:-6.1} meta rel
	case $want in
	'' | 6.1) meta=linux-image-cloud-amd64 ;;
	6.12) meta=linux-image-6.12-cloud-amd64 ;;
	*)
		printf '%s\n' "$want"
		return 0
		;;
	esac
	# apt-cache takes ~1 s here: remember the answer until the package
	# lists change (apt-get update renames files into the lists directory).
	local memo=$VM_CACHE/resolved-$want
	if [ -s "$memo" ] && [ "$memo" -nt /var/lib/apt/lists ]; then
		cat "$memo"
		return 0
	fi
	rel=$(_vm_meta_dep "$meta")
	if [ -z "$rel" ]; then
		# Package lists may be missing or stale (fresh machine).
		vm_apt_get update >&2 || true
		rel=$(_vm_meta_dep "$meta")
	fi
	[ -n "$rel" ] || return 1
	if mkdir -p "$VM_CACHE" 2>/dev/null; then
		printf '%s\n' "$rel" >"$memo.$$" && mv -f "$memo.$$" "$memo"
	fi
	printf '%s\n' "$rel"
}

_vm_meta_dep() {
	apt-cache depends "$1" 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*\)$/\1/p' |
		sort -V | tail -n1 || true
}

# Take an exclusive lock on FILE (created if missing) on fd 9, waiting.
vm_lock() {
	mkdir -p "$(dirname "$1")"
	exec 9>"$1"
	flock 9
}
vm_unlock() { exec 9>&-; }

vm_sha() { sha256sum | cut -c1-16; }

vm_python() {
	if [ -x /usr/bin/python3 ]; then
		printf '/usr/bin/python3\n'
	else
		command -v python3
	fi
}
