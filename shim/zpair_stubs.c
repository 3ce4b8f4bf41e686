/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The flat interface of the backends this build does not have (mode disabled in Kconfig, or
 * its shim/zpair_<mode>.c not written yet; CMakeLists.txt defines ZPAIR_HAVE_<MODE> for those
 * it compiles): every function exists and answers -ENOTSUP, so the Rust glue links against one
 * ABI whatever the Kconfig.
 */
#include <errno.h>

#include <zephyr/kernel.h>

#include <zpair/shim.h>

#if !defined(ZPAIR_HAVE_WIRED)
int zpair_wired_open(void)
{
	return -ENOTSUP;
}

int zpair_wired_close(void)
{
	return -ENOTSUP;
}

uint16_t zpair_wired_port(void)
{
	return 0;
}

int zpair_wired_announce(const uint8_t *datagram, size_t len)
{
	ARG_UNUSED(datagram);
	ARG_UNUSED(len);
	return -ENOTSUP;
}

int zpair_wired_send(uint32_t conn, const uint8_t *datagram, size_t len)
{
	ARG_UNUSED(conn);
	ARG_UNUSED(datagram);
	ARG_UNUSED(len);
	return -ENOTSUP;
}

void zpair_wired_forget(uint32_t conn)
{
	ARG_UNUSED(conn);
}
#endif /* !ZPAIR_HAVE_WIRED */

#if !defined(ZPAIR_HAVE_SOFTAP)
int zpair_softap_start(const uint8_t *ssid, size_t ssid_len)
{
	ARG_UNUSED(ssid);
	ARG_UNUSED(ssid_len);
	return -ENOTSUP;
}

int zpair_softap_stop(void)
{
	return -ENOTSUP;
}

int zpair_softap_send(uint32_t conn, const uint8_t *data, size_t len)
{
	ARG_UNUSED(conn);
	ARG_UNUSED(data);
	ARG_UNUSED(len);
	return -ENOTSUP;
}

int zpair_softap_close(uint32_t conn)
{
	ARG_UNUSED(conn);
	return -ENOTSUP;
}
#endif /* !ZPAIR_HAVE_SOFTAP */

#if !defined(ZPAIR_HAVE_WIFI)
/* Wi-Fi station scans: provided by shim/zpair_wifi.c, shared by the SoftAP and BLE modes. */
int zpair_wifi_scan(void)
{
	return -ENOTSUP;
}
#endif

#if !defined(ZPAIR_HAVE_BLE)
int zpair_ble_start(uint16_t discriminator, uint8_t state, uint32_t product, uint8_t version)
{
	ARG_UNUSED(discriminator);
	ARG_UNUSED(state);
	ARG_UNUSED(product);
	ARG_UNUSED(version);
	return -ENOTSUP;
}

int zpair_ble_stop(void)
{
	return -ENOTSUP;
}

int zpair_ble_notify(uint32_t conn, const uint8_t *data, size_t len)
{
	ARG_UNUSED(conn);
	ARG_UNUSED(data);
	ARG_UNUSED(len);
	return -ENOTSUP;
}

uint16_t zpair_ble_mtu(uint32_t conn)
{
	ARG_UNUSED(conn);
	return 23;
}

int zpair_ble_disconnect(uint32_t conn)
{
	ARG_UNUSED(conn);
	return -ENOTSUP;
}
#endif /* !ZPAIR_HAVE_BLE */

#if !defined(ZPAIR_HAVE_CELLULAR)
int zpair_cellular_show_payload(const char *payload, size_t len)
{
	ARG_UNUSED(payload);
	ARG_UNUSED(len);
	return -ENOTSUP;
}
#endif /* !ZPAIR_HAVE_CELLULAR */

#if !defined(CONFIG_NET_SOCKETS)
int zpair_cloud_post(const char *host, size_t host_len, uint16_t port, const char *path,
		     size_t path_len, const uint8_t *body, size_t body_len, uint8_t *resp,
		     size_t cap, size_t *resp_len, uint16_t *status)
{
	ARG_UNUSED(host);
	ARG_UNUSED(host_len);
	ARG_UNUSED(port);
	ARG_UNUSED(path);
	ARG_UNUSED(path_len);
	ARG_UNUSED(body);
	ARG_UNUSED(body_len);
	ARG_UNUSED(resp);
	ARG_UNUSED(cap);
	ARG_UNUSED(resp_len);
	ARG_UNUSED(status);
	return -ENOTSUP;
}
#endif /* !CONFIG_NET_SOCKETS */

#if !defined(CONFIG_NETWORKING)
/* No IP stack at all: no network to join (zpair_net.c needs net_if). */
int zpair_net_connect(uint8_t mode, const struct zpair_wifi_params *wifi, uint32_t *ip4)
{
	ARG_UNUSED(mode);
	ARG_UNUSED(wifi);
	if (ip4 != NULL) {
		*ip4 = 0;
	}
	return -ENOTSUP;
}

int zpair_net_status(uint8_t mode, uint32_t *ip4)
{
	ARG_UNUSED(mode);
	if (ip4 != NULL) {
		*ip4 = 0;
	}
	return -ENOTSUP;
}

int zpair_net_disconnect(uint8_t mode)
{
	ARG_UNUSED(mode);
	return -ENOTSUP;
}
#endif /* !CONFIG_NETWORKING */

#if !defined(CONFIG_ZPAIR_UI)
void zpair_indicate(uint8_t pattern)
{
	ARG_UNUSED(pattern);
}
#endif /* !CONFIG_ZPAIR_UI */
