#!/bin/bash
# nova-zun devstack plugin: nova-compute runs containers (compute_driver =
# zun.ZunDriver) on the host's Docker engine. Sourced by stack.sh and
# unstack.sh with the phase in $1 and $2.

function install_nova_zun {
    install_package docker.io busybox-static
    # nova-compute runs as $STACK_USER; the engine socket is group docker.
    sudo usermod -a -G docker "$STACK_USER"
    sudo systemctl enable --now docker
    setup_develop "$NOVA_ZUN_DIR"
}

function configure_nova_zun {
    iniset "$NOVA_CPU_CONF" DEFAULT compute_driver zun.ZunDriver
    iniset "$NOVA_CPU_CONF" zun engine_url "$NOVA_ZUN_ENGINE_URL"
    iniset "$NOVA_CPU_CONF" zun sandbox_binary "$NOVA_ZUN_SANDBOX_BINARY"
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

if is_service_enabled n-cpu; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing nova-zun"
        install_nova_zun
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring nova-compute for nova-zun"
        configure_nova_zun
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Creating the container flavor $NOVA_ZUN_FLAVOR"
        create_nova_zun_flavor
    fi
fi
