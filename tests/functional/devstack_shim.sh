#!/bin/bash

#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

# The devstack functions and host commands devstack/plugin.sh calls, for
# tests/functional/test_devstack_plugin.py: every call is recorded (one
# shell-quoted line in $HARNESS_LOG); ini files and the files the plugin
# writes are real (under the test's directory), nothing else on the host is
# touched. Sourced with the names of devstack's environment set by the test.

record() {
    local quoted
    printf -v quoted '%q ' "$@"
    echo "${quoted% }" >>"$HARNESS_LOG"
}

# Devstack's own, as functions-common and lib/* define them (behaviour, not
# code): what the plugin's phases may call.

iniset() {
    python3 - "$@" <<'EOF'
import configparser, sys
path, section, option, value = sys.argv[1:5]
config = configparser.ConfigParser(interpolation=None, strict=False)
config.optionxform = str
config.read(path)
if section != 'DEFAULT' and not config.has_section(section):
    config.add_section(section)
config.set(section, option, value)
with open(path, 'w') as f:
    config.write(f)
EOF
}

is_service_enabled() {
    local service
    for service in "$@"; do
        [[ ,$ENABLED_SERVICES, == *,$service,* ]] && return 0
        [[ $service == nova && ,$ENABLED_SERVICES, == *,n-* ]] && return 0
        [[ $service == glance && ,$ENABLED_SERVICES, == *,g-* ]] && return 0
    done
    return 1
}

enable_service() {
    ENABLED_SERVICES+=,$1
}

is_plugin_enabled() {
    [[ ,$DEVSTACK_PLUGINS, == *,$1,* ]]
}

is_ubuntu() {
    [[ ${os_PACKAGE:-} == deb ]]
}

die() {
    record die "$@"
    echo "die: $*" >&2
    exit 1
}

get_python_exec_prefix() {
    echo "$HARNESS_EXEC_PREFIX"
}

# Real pip into the test's virtualenv where the test gives one (the
# editable Nova test); recorded only otherwise.
pip_install() {
    record pip_install "$@"
    if [[ -n ${HARNESS_PIP:-} ]]; then
        $HARNESS_PIP install --quiet --no-build-isolation --no-deps "$@"
    fi
}

setup_develop() {
    record setup_develop "$@"
    if [[ -n ${HARNESS_PIP:-} ]]; then
        $HARNESS_PIP install --quiet --no-build-isolation --no-deps -e "$1"
    fi
}

configure_keystone_authtoken_middleware() {
    record configure_keystone_authtoken_middleware "$@"
    iniset "$1" "${3:-keystone_authtoken}" username "$2"
}

get_or_create_service() {
    record get_or_create_service "$@"
    echo "service-$1"
}

# The rest is recorded: Keystone, processes, packages, the TLS proxy.
for name in echo_summary install_package create_service_user \
        get_or_create_endpoint run_process stop_process start_tls_proxy; do
    eval "$name() { record $name \"\$@\"; }"
done

# Host commands: recorded, answering as a host with Debian's docker.io
# just installed (the engine set FORWARD to DROP) and what the test gives.
sudo() {
    record sudo "$@"
    "$@"
}

for name in systemctl usermod docker openstack iptables umount findmnt; do
    eval "$name() { record $name \"\$@\"; harness_$name \"\$@\"; }"
done

harness_systemctl() { :; }
harness_usermod() { :; }
harness_umount() { :; }

harness_docker() {
    case $1 in
        import) cat >"${HARNESS_DIR:?}/docker-import.tar" ;;
        save) echo "docker save $*" ;;
        ps) tr ' ' '\n' <<<"${HARNESS_CONTAINERS:-}" ;;
    esac
}

harness_openstack() {
    case "$1 $2" in
        "flavor show"|"image show") return 1 ;;
        "image create") cat >/dev/null ;;
    esac
}

harness_iptables() {
    case "$*" in
        "-S FORWARD") printf '%s\n' '-P FORWARD DROP' '-A FORWARD -j DOCKER-USER' ;;
    esac
}

harness_findmnt() {
    tr ' ' '\n' <<<"${HARNESS_MOUNTS:-}"
}

# Devstack's own steps around the plugin's phases (lib/nova).

# configure_nova's configure_rootwrap: rootwrap.d emptied, Nova's filters
# (as Nova 34's etc/nova/rootwrap.d/compute.filters has them) installed.
devstack_configure_rootwrap_nova() {
    rm -rf "$NOVA_CONF_DIR/rootwrap.d"
    mkdir -p "$NOVA_CONF_DIR/rootwrap.d"
    cat >"$NOVA_CONF_DIR/rootwrap.d/compute.filters" <<'EOF'
[Filters]
privsep-rootwrap-os_brick: RegExpFilter, privsep-helper, root, privsep-helper, --config-file, /etc/(?!\.\.).*, --privsep_context, os_brick.privileged.default, --privsep_sock_path, /tmp/.*
privsep-rootwrap-sys_admin: RegExpFilter, privsep-helper, root, privsep-helper, --config-file, /etc/(?!\.\.).*, --privsep_context, nova.privsep.sys_admin_pctxt, --privsep_sock_path, /tmp/.*
EOF
}

# create_nova_conf, in part.
devstack_create_nova_conf() {
    iniset "$NOVA_CONF" DEFAULT debug True
    iniset "$NOVA_CONF" DEFAULT state_path "$NOVA_STATE_PATH"
}

# start_nova_compute: nova-compute's file is nova.conf, plus local.conf's
# post-config sections for it (the harness has no local.conf).
devstack_start_nova_compute() {
    cp "$NOVA_CONF" "$NOVA_CPU_CONF"
}
