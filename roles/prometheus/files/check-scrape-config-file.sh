#!/bin/sh
# Checks one scrape_config_files fragment the way Prometheus loads it (used by Ansible's validate).
set -u
dir=$(mktemp -d)
printf 'scrape_config_files: ["%s"]\n' "$1" > "$dir/prometheus.yml"
/usr/local/bin/promtool check config "$dir/prometheus.yml"
rc=$?
rm -rf "$dir"
exit $rc
