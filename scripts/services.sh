#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ answer on loopback for the tests: start them when installed,
# install Debian's packages when missing (as root), else say exactly what to install.
set -uo pipefail

port_open() { (echo > "/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }
wait_port() { for _ in $(seq 1 "${2:-60}"); do port_open "$1" && return 0; sleep 1; done; return 1; }
as_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
  if ! as_root || ! command -v apt-get >/dev/null; then
    echo "missing: $* — install it (Debian: apt-get install -y $*) and start it" >&2; return 1
  fi
  echo "installing $* from Debian's packages" >&2
  [ -n "${_APT_UPDATED:-}" ] || { apt-get update -qq >&2; _APT_UPDATED=1; }
  # Only what is named: chromium's recommended packages alone are ~300 MB of desktop integration.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_postgres() {
  [ -n "${DZ_PG_DSN:-}${DZ_TEST_PG_DSN:-}" ] && return 0   # pointed elsewhere: the tests check it
  port_open 5432 && return 0
  command -v pg_ctlcluster >/dev/null || apt_install postgresql || return 1
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start >&2 || true
  wait_port 5432 30 || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; return 1; }
  # Tests connect as postgres over TCP without a password (trust on loopback, as on CI).
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 || true
}

ensure_rabbitmq() {
  port_open 5672 && return 0
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server || return 1
  echo "starting RabbitMQ" >&2
  rabbitmq-server -detached >&2 || true
  wait_port 5672 90 || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; return 1; }
}

ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium || return 1
  # A CJK font, so that pages rendered in the browser tests show Chinese, not empty boxes.
  fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || apt_install fonts-wqy-microhei fontconfig || return 1
}

# The QR batch (dz_assets/ecode): its captions need a CJK font (the tests fail without one), and
# its tests decode every code with zbarimg, a decoder other than the pipeline's zxing-cpp.
ensure_qr_tools() {
  fc-list 2>/dev/null | grep -qi "wenquanyi" || apt_install fonts-wqy-microhei fontconfig || return 1
  command -v zbarimg >/dev/null || apt_install zbar-tools || return 1
}

status=0
ensure_qr_tools || status=1
ensure_postgres || status=1
ensure_rabbitmq || status=1
ensure_chromium || echo "chromium missing: the browser test will skip (or fail under DZ_REQUIRE_SERVICES=1)" >&2
exit $status
