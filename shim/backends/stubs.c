/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The functions of the backends this build leaves out: they exist so that the Rust glue links
 * against one ABI whatever the Kconfig, and return -ENOTSUP.
 *
 * They are weak, so that they can never clash with another definition of the same name.
 */
#include <errno.h>

#include <zephyr/kernel.h>
#include <zephyr/toolchain.h>
#include <zpair/shim_backends.h>

#if !defined(CONFIG_ZPAIR_WIFI)
__weak int zpair_wifi_set_callback(zpair_wifi_cb_t cb, void *user)
{
	ARG_UNUSED(cb);
	ARG_UNUSED(user);
	return -ENOTSUP;
}

__weak int zpair_wifi_scan_start(const uint8_t *ssid, size_t ssid_len)
{
	ARG_UNUSED(ssid);
	ARG_UNUSED(ssid_len);
	return -ENOTSUP;
}

__weak int zpair_wifi_sta_connect(const struct zpair_wifi_connect_params *params)
{
	ARG_UNUSED(params);
	return -ENOTSUP;
}

__weak int zpair_wifi_sta_disconnect(void)
{
	return -ENOTSUP;
}

__weak int zpair_wifi_sta_status(uint32_t *ip4)
{
	ARG_UNUSED(ip4);
	return -ENOTSUP;
}
#endif /* !CONFIG_ZPAIR_WIFI */

#if !defined(CONFIG_ZPAIR_SOFTAP)
__weak int zpair_wifi_ap_ssid(uint64_t device_id, char *buf, size_t cap)
{
	ARG_UNUSED(device_id);
	ARG_UNUSED(buf);
	ARG_UNUSED(cap);
	return -ENOTSUP;
}

__weak int zpair_wifi_ap_start(uint64_t device_id)
{
	ARG_UNUSED(device_id);
	return -ENOTSUP;
}

__weak int zpair_wifi_ap_stop(void)
{
	return -ENOTSUP;
}

__weak int zpair_wifi_tcp_send(uint32_t conn, const uint8_t *data, size_t len)
{
	ARG_UNUSED(conn);
	ARG_UNUSED(data);
	ARG_UNUSED(len);
	return -ENOTSUP;
}

__weak int zpair_wifi_tcp_close(uint32_t conn)
{
	ARG_UNUSED(conn);
	return -ENOTSUP;
}
#endif /* !CONFIG_ZPAIR_SOFTAP */

#if !defined(CONFIG_ZPAIR_BLE)
__weak int zpair_ble_set_callback(zpair_ble_cb_t cb, void *user)
{
	ARG_UNUSED(cb);
	ARG_UNUSED(user);
	return -ENOTSUP;
}

__weak int zpair_ble_start_adv(const struct zpair_ble_adv_params *params)
{
	ARG_UNUSED(params);
	return -ENOTSUP;
}

__weak int zpair_ble_stop_adv(void)
{
	return -ENOTSUP;
}

__weak int zpair_ble_gatt_notify(uint32_t conn, const uint8_t *data, size_t len)
{
	ARG_UNUSED(conn);
	ARG_UNUSED(data);
	ARG_UNUSED(len);
	return -ENOTSUP;
}

__weak uint16_t zpair_ble_gatt_mtu(uint32_t conn)
{
	ARG_UNUSED(conn);
	return 23;
}

__weak int zpair_ble_gatt_disconnect(uint32_t conn)
{
	ARG_UNUSED(conn);
	return -ENOTSUP;
}
#endif /* !CONFIG_ZPAIR_BLE */

#if !defined(CONFIG_ZPAIR_CELLULAR)
__weak int zpair_cellular_set_callback(zpair_cellular_cb_t cb, void *user)
{
	ARG_UNUSED(cb);
	ARG_UNUSED(user);
	return -ENOTSUP;
}

__weak int zpair_cellular_modem_attach(void)
{
	return -ENOTSUP;
}

__weak int zpair_cellular_modem_detach(void)
{
	return -ENOTSUP;
}

__weak int zpair_cellular_info(struct zpair_cellular_info *info)
{
	ARG_UNUSED(info);
	return -ENOTSUP;
}
#endif /* !CONFIG_ZPAIR_CELLULAR */
