#!/usr/bin/env bash
# An sshd for trying xdist's ssh workers on this machine (docs/ci.md, "Remote workers"):
# Debian's openssh-server, listening on 127.0.0.1 only, on a high port, key authentication only,
# with its keys, config, pid file and log in one directory of its own. Run as root (it installs
# the package). Stop it with: kill "$(cat DIR/sshd.pid)".
#
#   scripts/loopback-sshd.sh [DIR] [PORT]      # defaults: /tmp/batt-sshd 22222
#
# Then `ssh -F DIR/ssh_config batt-loopback true` works, and so does
# `pytest --tx ssh=batt-loopback//ssh_config=DIR/ssh_config//python=...//chdir=...`.
set -euo pipefail
DIR=${1:-/tmp/batt-sshd}
PORT=${2:-22222}

if ! command -v /usr/sbin/sshd >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi
mkdir -p "$DIR" /run/sshd
chmod 700 "$DIR"
[ -f "$DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_ed25519"
[ -f "$DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/client_ed25519"
cp "$DIR/client_ed25519.pub" "$DIR/authorized_keys"
chmod 600 "$DIR/authorized_keys"

cat > "$DIR/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $PORT
HostKey $DIR/host_ed25519
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $(id -un)
UsePAM no
StrictModes no
LogLevel INFO
CONF

cat > "$DIR/ssh_config" <<CONF
Host batt-loopback
    HostName 127.0.0.1
    Port $PORT
    User $(id -un)
    IdentityFile $DIR/client_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $DIR/known_hosts
    StrictHostKeyChecking accept-new
    BatchMode yes
CONF

if [ -f "$DIR/sshd.pid" ] && kill -0 "$(cat "$DIR/sshd.pid")" 2>/dev/null; then
    echo "sshd already running (pid $(cat "$DIR/sshd.pid"))"
else
    /usr/sbin/sshd -t -f "$DIR/sshd_config"
    /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
    sleep 0.5
    echo "sshd listening on 127.0.0.1:$PORT (pid $(cat "$DIR/sshd.pid"))"
fi
ssh -F "$DIR/ssh_config" batt-loopback 'echo "ssh ok: $(hostname) $(whoami)"'
