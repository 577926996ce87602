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

function install_nova_zun {
    install_package docker.io busybox-static
    # nova-compute runs as $STACK_USER; the engine socket is group docker.
    sudo usermod -a -G docker "$STACK_USER"
    sudo systemctl enable --now docker
    configure_nova_zun_engine
    setup_develop "$NOVA_ZUN_DIR"
}

function configure_nova_zun_engine {
    # Containers keep running while dockerd stops or restarts (an upgrade,
    # a crash): live restore, added to the daemon's own configuration.
    sudo python3 - "$NOVA_ZUN_ENGINE_CONFIG" <<'EOF'
import json, os, sys
path = sys.argv[1]
config = {}
if os.path.exists(path):
    with open(path) as f:
        config = json.load(f)
config['live-restore'] = True
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, 'w') as f:
    json.dump(config, f, indent=2)
EOF
    # dockerd applies live-restore on reload (SIGHUP).
    sudo systemctl reload docker
}

function configure_nova_zun_compute {
    # nova-compute's own file, written by devstack before this phase (as
    # stack.sh itself sets it before it starts Nova).
    iniset "$NOVA_CPU_CONF" DEFAULT compute_driver zun.ZunDriver
    iniset "$NOVA_CPU_CONF" zun engine_url "$NOVA_ZUN_ENGINE_URL"
    iniset "$NOVA_CPU_CONF" zun sandbox_binary "$NOVA_ZUN_SANDBOX_BINARY"
}

function configure_nova_zun_api {
    sudo install -d -o "$STACK_USER" "$NOVA_ZUN_API_CONF_DIR"
    iniset "$NOVA_ZUN_API_CONF" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$NOVA_ZUN_API_CONF" native_api bind_host "$SERVICE_LISTEN_ADDRESS"
    iniset "$NOVA_ZUN_API_CONF" native_api bind_port "$NOVA_ZUN_API_PORT"
    iniset "$NOVA_ZUN_API_CONF" native_api host "$(hostname)"
    iniset "$NOVA_ZUN_API_CONF" zun engine_url "$NOVA_ZUN_ENGINE_URL"
    create_service_user zun admin
    configure_keystone_authtoken_middleware "$NOVA_ZUN_API_CONF" zun
    get_or_create_service zun container "Containers (nova-zun native API)"
    get_or_create_endpoint container "$REGION_NAME" \
        "$SERVICE_PROTOCOL://$SERVICE_HOST:$NOVA_ZUN_API_PORT/v1"
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

if is_service_enabled g-api && [[ "$1" == "stack" && "$2" == "post-config" ]]
then
    echo_summary "Configuring Glance for nova-zun's layered images"
    configure_nova_zun_glance
fi

if is_service_enabled n-cpu; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
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
        if is_service_enabled zun-native-api; then
            run_process zun-native-api \
                "$(command -v zun-native-api) --config-file $NOVA_ZUN_API_CONF"
        fi
    elif [[ "$1" == "unstack" ]]; then
        stop_process zun-native-api
    fi
fi
