/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Network state for the modes that ride on an IP interface the application already runs
 * (wired: Ethernet with DHCP; offloaded sockets on native_sim). The Wi-Fi station (SoftAP and
 * BLE modes) and the cellular attach belong to their backends, which this file dispatches to
 * when the tree has them (ZPAIR_HAVE_WIFI, ZPAIR_HAVE_CELLULAR).
 *
 * Link changes are posted as ZPAIR_IN_NET inputs when CONFIG_NET_MGMT_EVENT is enabled; the
 * Rust side also polls zpair_net_status() while it waits, so that events are an optimisation.
 */
#include <errno.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/net_if.h>
#include <zephyr/net/net_mgmt.h>
#include <zephyr/net/net_event.h>
#if defined(CONFIG_NET_DHCPV4)
#include <zephyr/net/dhcpv4.h>
#endif

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

#if defined(ZPAIR_HAVE_WIRED)

static int wired_status(uint32_t *ip4)
{
	struct net_if *iface = net_if_get_default();

	*ip4 = 0;
	if (iface == NULL) {
		return -ENODEV;
	}
	if (net_if_is_socket_offloaded(iface)) {
		/* Offloaded sockets (native_sim NSOS, modems): the host/modem owns the address. */
		return 0;
	}
	if (!net_if_is_up(iface)) {
		return -ENETDOWN;
	}
#if defined(CONFIG_NET_IPV4)
	{
		struct in_addr *addr = net_if_ipv4_get_global_addr(iface, NET_ADDR_PREFERRED);

		if (addr == NULL) {
			return -ENETDOWN;
		}
		*ip4 = addr->s_addr;
	}
#endif
	return 0;
}

#if defined(CONFIG_NET_MGMT_EVENT)
#define ZPAIR_NET_EVENTS (NET_EVENT_IF_UP | NET_EVENT_IF_DOWN)
#define ZPAIR_IPV4_EVENTS (NET_EVENT_IPV4_ADDR_ADD | NET_EVENT_IPV4_ADDR_DEL)

static struct net_mgmt_event_callback if_cb;
static struct net_mgmt_event_callback ipv4_cb;
static bool callbacks_added;
static atomic_t waiting;

static void net_event(struct net_mgmt_event_callback *cb, uint64_t event, struct net_if *iface)
{
	struct zpair_input in = {
		.kind = ZPAIR_IN_NET,
		.mode = ZPAIR_MODE_WIRED,
	};
	uint32_t ip4;

	ARG_UNUSED(cb);
	if (iface != net_if_get_default()) {
		return;
	}
	in.arg = wired_status(&ip4) == 0 ? ZPAIR_NET_UP : ZPAIR_NET_DOWN;
	if (in.arg == ZPAIR_NET_UP && !atomic_get(&waiting)) {
		return; /* nobody asked */
	}
	if (in.arg == ZPAIR_NET_UP) {
		atomic_clear(&waiting);
	}
	(void)zpair_input_post(&in, K_NO_WAIT);
}

static void add_callbacks(void)
{
	if (callbacks_added) {
		return;
	}
	net_mgmt_init_event_callback(&if_cb, net_event, ZPAIR_NET_EVENTS);
	net_mgmt_add_event_callback(&if_cb);
	net_mgmt_init_event_callback(&ipv4_cb, net_event, ZPAIR_IPV4_EVENTS);
	net_mgmt_add_event_callback(&ipv4_cb);
	callbacks_added = true;
}
#endif /* CONFIG_NET_MGMT_EVENT */

#endif /* ZPAIR_HAVE_WIRED */

int zpair_net_connect(uint8_t mode, const struct zpair_wifi_params *wifi, uint32_t *ip4)
{
	ARG_UNUSED(wifi);
	if (ip4 == NULL) {
		return -EINVAL;
	}
	*ip4 = 0;
#if defined(ZPAIR_HAVE_WIFI)
	if (mode == ZPAIR_MODE_SOFTAP || mode == ZPAIR_MODE_BLE) {
		return wifi == NULL ? -EINVAL : zpair_wifi_connect(mode, wifi, ip4);
	}
#endif
#if defined(ZPAIR_HAVE_CELLULAR)
	if (mode == ZPAIR_MODE_CELLULAR) {
		return zpair_cellular_attach(ip4);
	}
#endif
#if defined(ZPAIR_HAVE_WIRED)
	if (mode == ZPAIR_MODE_WIRED) {
		struct net_if *iface = net_if_get_default();
		int rc = wired_status(ip4);

		if (rc != -ENETDOWN) {
			return rc;
		}
#if defined(CONFIG_NET_MGMT_EVENT)
		add_callbacks();
		atomic_set(&waiting, 1);
#endif
		if (iface != NULL && !net_if_is_up(iface)) {
			(void)net_if_up(iface);
		}
#if defined(CONFIG_NET_DHCPV4)
		if (iface != NULL) {
			net_dhcpv4_start(iface);
		}
#endif
		return -EINPROGRESS;
	}
#endif
	ARG_UNUSED(mode);
	return -ENOTSUP;
}

int zpair_net_status(uint8_t mode, uint32_t *ip4)
{
	if (ip4 == NULL) {
		return -EINVAL;
	}
	*ip4 = 0;
#if defined(ZPAIR_HAVE_WIFI)
	if (mode == ZPAIR_MODE_SOFTAP || mode == ZPAIR_MODE_BLE) {
		return zpair_wifi_status(ip4);
	}
#endif
#if defined(ZPAIR_HAVE_CELLULAR)
	if (mode == ZPAIR_MODE_CELLULAR) {
		return zpair_cellular_status(ip4);
	}
#endif
#if defined(ZPAIR_HAVE_WIRED)
	if (mode == ZPAIR_MODE_WIRED) {
		return wired_status(ip4);
	}
#endif
	ARG_UNUSED(mode);
	return -ENOTSUP;
}

int zpair_net_disconnect(uint8_t mode)
{
#if defined(ZPAIR_HAVE_WIFI)
	if (mode == ZPAIR_MODE_SOFTAP || mode == ZPAIR_MODE_BLE) {
		return zpair_wifi_disconnect();
	}
#endif
#if defined(ZPAIR_HAVE_CELLULAR)
	if (mode == ZPAIR_MODE_CELLULAR) {
		return zpair_cellular_detach();
	}
#endif
#if defined(ZPAIR_HAVE_WIRED)
	if (mode == ZPAIR_MODE_WIRED) {
		/* The application owns the Ethernet interface: nothing to leave. */
#if defined(CONFIG_NET_MGMT_EVENT)
		atomic_clear(&waiting);
#endif
		return 0;
	}
#endif
	ARG_UNUSED(mode);
	return -ENOTSUP;
}
