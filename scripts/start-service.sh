#!/usr/bin/env bash
# Starts the service on its default configuration: under systemd when the machine runs it,
# otherwise as a background process (containers, CI), and waits until its API answers.
set -euo pipefail
cd "$(dirname "$0")/.."
app_dir=$(pwd)
port=$(node -e "process.env.SUPPRESS_NO_CONFIG_WARNING='y'; process.env.NODE_CONFIG_DIR='$app_dir/config:/etc/intercom'; console.log(require('config').get('http.port'))")

if [ -d /run/systemd/system ]; then
  # The unit runs as the system user intercom (groups audio, gpio), as the Debian package sets it up.
  systemd-sysusers systemd/intercom.sysusers
  install -m 0644 systemd/60-intercom-gpio.rules /etc/udev/rules.d/60-intercom-gpio.rules
  udevadm control --reload-rules 2>/dev/null && udevadm trigger --subsystem-match=gpio 2>/dev/null || true
  sed "s#@APP_DIR@#$app_dir#g" systemd/intercom.service > /etc/systemd/system/intercom.service
  mkdir -p /etc/systemd/system/intercom.service.d
  case "$app_dir" in
    # ProtectHome= would hide a checkout under /home or /root from the service.
    /home/*|/root/*) printf '[Service]\nProtectHome=read-only\n' > /etc/systemd/system/intercom.service.d/checkout.conf ;;
    *) rm -f /etc/systemd/system/intercom.service.d/checkout.conf ;;
  esac
  if ! runuser -u intercom -- test -r "$app_dir/dist/main.js"; then
    echo "start-service.sh: the intercom user cannot read $app_dir (make it world-readable, or install the .deb: npm run deb)" >&2
  fi
  systemctl daemon-reload
  systemctl enable --now intercom.service
  systemctl restart intercom.service
else
  mkdir -p /var/lib/intercom /var/log
  if [ -f /run/intercom.pid ] && kill -0 "$(cat /run/intercom.pid)" 2>/dev/null; then
    kill "$(cat /run/intercom.pid)" || true
    sleep 1
  fi
  # The node flags systemd would start it with (ExecStart in systemd/intercom.service).
  read -r -a node_flags < <(sed -n 's#^ExecStart=/usr/bin/env node \(.*\)@APP_DIR@/dist/main\.js$#\1#p' systemd/intercom.service) || true
  NODE_ENV=production setsid nohup node "${node_flags[@]}" dist/main.js >>/var/log/intercom.log 2>&1 < /dev/null &
  echo $! > /run/intercom.pid
fi

for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; then
    echo "intercom is running: http://$(hostname -I 2>/dev/null | awk '{print $1}'):$port/"
    exit 0
  fi
  sleep 0.5
done
echo "start-service.sh: the service did not answer on port $port within 30 s" >&2
[ -f /var/log/intercom.log ] && tail -n 40 /var/log/intercom.log >&2
exit 1
