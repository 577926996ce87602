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

# nova-zun devstack plugin: nova-compute runs containers (compute_driver =
# zun.ZunDriver) on the host's Docker engine, and the native API
# (zun-native-api) answers as the catalog's "container" service. Sourced by
# stack.sh, unstack.sh and clean.sh with the phase in $1 and $2; devstack
# defines every function and name used here that this file does not.

function check_nova_zun_host {
    # What the plugin cannot serve stops stack.sh before anything is
    # installed.
    if [[ $VIRT_DRIVER != zun ]]; then
        die $LINENO "nova-zun needs VIRT_DRIVER=zun in local.conf" \
            "(VIRT_DRIVER=$VIRT_DRIVER)"
    fi
    if ! is_ubuntu; then
        die $LINENO "nova-zun installs Debian's docker.io package:" \
            "Debian or Ubuntu only"
    fi
    if ! printf '%s\n' 3.11 "$PYTHON3_VERSION" | sort -V -C; then
        die $LINENO "nova-zun needs Python 3.11 or later" \
            "(PYTHON3_VERSION=$PYTHON3_VERSION)"
    fi
    if is_plugin_enabled devstack-plugin-container; then
        die $LINENO "nova-zun configures the host's docker.io itself;" \
            "devstack-plugin-container installs docker-ce and rewrites" \
            "its daemon.json: disable devstack-plugin-container"
    fi
}

function install_nova_zun {
    install_package docker.io busybox-static
    # nova-compute runs as $STACK_USER; the engine socket is group docker.
    sudo usermod -a -G docker "$STACK_USER"
    configure_nova_zun_engine
    # Nova loads drivers from nova.virt only: nova-zun adds nova.virt.zun.
    # Python finds it beside devstack's editable Nova only when Nova's
    # checkout is a path entry (setuptools' compat mode); with the default
    # import hook, nova-zun's editable install would make "nova" a
    # namespace package without Nova in it.
    pip_install --no-deps --config-settings editable_mode=compat \
        -e "$NOVA_DIR"
    setup_develop "$NOVA_ZUN_DIR"
}

function configure_nova_zun_engine {
    # The all-in-one's engine settings (nova_zun_workshop.engine): live
    # restore (containers keep running while dockerd stops or restarts),
    # runsc where installed, and no bridge, NAT or iptables rules of the
    # engine's own (instances are on Neutron's networks). The engine's
    # iptables would also set FORWARD's policy to DROP, dropping what
    # devstack's public network routes through this host.
    sudo python3 - "$NOVA_ZUN_ENGINE_CONFIG" <<'EOF'
import json, os, shutil, sys
path = sys.argv[1]
config = {}
if os.path.exists(path):
    with open(path) as f:
        config = json.load(f)
config.update({'live-restore': True, 'bridge': 'none', 'iptables': False,
               'ip6tables': False, 'ip-masq': False})
runsc = shutil.which('runsc')
if runsc:
    config.setdefault('runtimes', {})['runsc'] = {
        'path': runsc, 'runtimeArgs': ['--platform=ptrace', '--network=host']}
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, 'w') as f:
    json.dump(config, f, indent=2)
EOF
    # Bridge and iptables settings apply on restart only.
    sudo systemctl enable docker
    sudo systemctl restart docker
    # The engine the package started first has set FORWARD's policy to
    # DROP, and no restart resets it.
    local forward
    forward=$(sudo iptables -S FORWARD)
    # (iptables -S lists the policy first, then the engine's jump.)
    if [[ $forward == *"-P FORWARD DROP"*"-j DOCKER-USER"* ]]; then
        sudo iptables -P FORWARD ACCEPT
    fi
}

function configure_nova_zun_compute {
    # In nova.conf: start_nova_compute, after this phase, makes nova-cpu.conf
    # a copy of it (plus local.conf's post-config sections for nova-cpu.conf).
    iniset "$NOVA_CONF" DEFAULT compute_driver zun.ZunDriver
    iniset "$NOVA_CONF" zun engine_url "$NOVA_ZUN_ENGINE_URL"
    iniset "$NOVA_CONF" zun sandbox_binary "$NOVA_ZUN_SANDBOX_BINARY"
}

# This host's native API as clients and the other hosts reach it: behind
# devstack's TLS proxy (Apache) with tls-proxy.
function nova_zun_api_url {
    local protocol=http
    if is_service_enabled tls-proxy; then
        protocol=https
    fi
    echo "$protocol://$NOVA_ZUN_API_HOST:$NOVA_ZUN_API_PORT"
}

function configure_nova_zun_api {
    local port=$NOVA_ZUN_API_PORT url
    url=$(nova_zun_api_url)
    if is_service_enabled tls-proxy; then
        port=$NOVA_ZUN_API_PORT_INT
    fi
    sudo install -d -o "$STACK_USER" "$NOVA_ZUN_API_CONF_DIR"
    iniset "$NOVA_ZUN_API_CONF" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$NOVA_ZUN_API_CONF" native_api bind_host "$SERVICE_LISTEN_ADDRESS"
    iniset "$NOVA_ZUN_API_CONF" native_api bind_port "$port"
    # Nova's name for this host ([DEFAULT] host, which devstack leaves to
    # its default, the host name), and every container host's API.
    iniset "$NOVA_ZUN_API_CONF" native_api host "$(hostname)"
    iniset "$NOVA_ZUN_API_CONF" native_api hosts \
        "$(hostname):$url${NOVA_ZUN_API_HOSTS:+,$NOVA_ZUN_API_HOSTS}"
    iniset "$NOVA_ZUN_API_CONF" native_api console_token_dir \
        "$NOVA_ZUN_DATA_DIR/console-tokens"
    iniset "$NOVA_ZUN_API_CONF" zun engine_url "$NOVA_ZUN_ENGINE_URL"
    # devstack gives every service user the service role: enough for
    # keystonemiddleware's service tokens.
    create_service_user zun
    configure_keystone_authtoken_middleware "$NOVA_ZUN_API_CONF" zun
    get_or_create_service zun container "Containers (nova-zun native API)"
    # The first container host to stack registers its API; the others'
    # answer for it through hosts.
    get_or_create_endpoint container "$REGION_NAME" "$url/v1"
}

function start_nova_zun_api {
    # In the engine's group, as lib/nova runs nova-compute for zun.
    run_process zun-native-api \
        "$(get_python_exec_prefix)/zun-native-api --config-file $NOVA_ZUN_API_CONF" \
        "$DOCKER_GROUP"
    if is_service_enabled tls-proxy; then
        start_tls_proxy zun-native-api '*' "$NOVA_ZUN_API_PORT" \
            "$NOVA_ZUN_API_HOST" "$NOVA_ZUN_API_PORT_INT"
    fi
}

function configure_nova_zun_glance {
    # Layered images (doc/images.rst): layer images have a container format
    # of their own, and Glance's hash of a layer's data is its digest.
    iniset "$GLANCE_API_CONF" DEFAULT hashing_algorithm sha256
    iniset "$GLANCE_API_CONF" image_format container_formats \
        "ami,ari,aki,bare,ovf,ova,docker,compressed,zun-layer"
}

function create_nova_zun_flavor {
    # Container flavors must never land on a VM host: the driver reports
    # CUSTOM_ZUN_CONTAINER_HOST on its resource provider.
    if ! openstack flavor show "$NOVA_ZUN_FLAVOR" >/dev/null 2>&1; then
        openstack flavor create "$NOVA_ZUN_FLAVOR" \
            --vcpus "$NOVA_ZUN_FLAVOR_VCPUS" --ram "$NOVA_ZUN_FLAVOR_RAM" \
            --disk "$NOVA_ZUN_FLAVOR_DISK" \
            --property trait:CUSTOM_ZUN_CONTAINER_HOST=required
    fi
}

function upload_nova_zun_image {
    # devstack downloads no image for VIRT_DRIVER=zun, and Tempest needs
    # one: busybox-static's applets, built here (no registry), running
    # until stopped.
    if openstack image show "$NOVA_ZUN_IMAGE" >/dev/null 2>&1; then
        return
    fi
    local rootfs applet
    rootfs=$(mktemp -d)
    install -D -m 755 "$NOVA_ZUN_SANDBOX_BINARY" "$rootfs/bin/busybox"
    for applet in $("$NOVA_ZUN_SANDBOX_BINARY" --list); do
        if [[ $applet != busybox ]]; then
            ln -s busybox "$rootfs/bin/$applet"
        fi
    done
    tar -C "$rootfs" -c . | sudo docker import --change \
        "CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 2147483647 & wait\"]" \
        - "$NOVA_ZUN_IMAGE"
    rm -rf "$rootfs"
    sudo docker save "$NOVA_ZUN_IMAGE" | openstack image create --public \
        --container-format docker --disk-format raw "$NOVA_ZUN_IMAGE"
}

function stop_nova_zun {
    stop_process zun-native-api
    # As lib/nova's cleanup_nova destroys the instances: every pod's
    # containers, then the mounts of their volumes (deepest first, the
    # driver's bind mount of the directory last).
    local containers mount
    containers=$(sudo docker ps --all --quiet \
        --filter label=org.openstack.nova-zun.role)
    if [[ -n $containers ]]; then
        # shellcheck disable=SC2086 # one id a word
        sudo docker rm --force $containers
    fi
    findmnt --list --noheadings --output TARGET |
        grep -E "^$NOVA_ZUN_VOLUME_MOUNT_DIR(/|$)" | sort -r |
        while read -r mount; do
            sudo umount "$mount"
        done
}

function cleanup_nova_zun {
    sudo rm -rf "$NOVA_ZUN_API_CONF_DIR" "$NOVA_ZUN_DATA_DIR"
    sudo docker image rm --force "$NOVA_ZUN_IMAGE" >/dev/null 2>&1 || true
}

if is_service_enabled g-api && [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring Glance for nova-zun's layered images"
    configure_nova_zun_glance
fi

if is_service_enabled n-cpu; then
    if [[ "$1" == "stack" && "$2" == "pre-install" ]]; then
        check_nova_zun_host
    elif [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing nova-zun"
        install_nova_zun
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring nova-compute for nova-zun"
        configure_nova_zun_compute
        if is_service_enabled zun-native-api; then
            configure_nova_zun_api
        fi
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Creating the container flavor $NOVA_ZUN_FLAVOR"
        create_nova_zun_flavor
        if is_service_enabled g-api; then
            echo_summary "Uploading the container image $NOVA_ZUN_IMAGE"
            upload_nova_zun_image
        fi
        if is_service_enabled zun-native-api; then
            start_nova_zun_api
        fi
    elif [[ "$1" == "unstack" ]]; then
        stop_nova_zun
    elif [[ "$1" == "clean" ]]; then
        cleanup_nova_zun
    fi
fi
