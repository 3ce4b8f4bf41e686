/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>

#include <zephyr/logging/log.h>
#include <zephyr/ztest.h>

/* Both layers' headers in one translation unit: no name is declared twice. */
#include <zpair/shim.h>
#include <zpair/shim_backends.h>


ZTEST(zpair_backends_off, test_kconfig)
{
	zassert_false(IS_ENABLED(CONFIG_ZPAIR_WIFI));
	zassert_false(IS_ENABLED(CONFIG_ZPAIR_SOFTAP));
	zassert_false(IS_ENABLED(CONFIG_ZPAIR_BLE));
	zassert_false(IS_ENABLED(CONFIG_ZPAIR_CELLULAR));
}

ZTEST(zpair_backends_off, test_wifi_is_not_supported)
{
	struct zpair_wifi_connect_params p = {0};
	char ssid[33];
	uint32_t ip = 0;

	zassert_equal(zpair_wifi_set_callback(NULL, NULL), -ENOTSUP);
	zassert_equal(zpair_wifi_scan_start(NULL, 0), -ENOTSUP);
	zassert_equal(zpair_wifi_sta_connect(&p), -ENOTSUP);
	zassert_equal(zpair_wifi_sta_disconnect(), -ENOTSUP);
	zassert_equal(zpair_wifi_sta_status(&ip), -ENOTSUP);
	zassert_equal(zpair_wifi_ap_ssid(1, ssid, sizeof(ssid)), -ENOTSUP);
	zassert_equal(zpair_wifi_ap_start(1), -ENOTSUP);
	zassert_equal(zpair_wifi_ap_stop(), -ENOTSUP);
	zassert_equal(zpair_wifi_tcp_send(1, NULL, 0), -ENOTSUP);
	zassert_equal(zpair_wifi_tcp_close(1), -ENOTSUP);
}

ZTEST(zpair_backends_off, test_ble_is_not_supported)
{
	struct zpair_ble_adv_params adv = {0};

	zassert_equal(zpair_ble_set_callback(NULL, NULL), -ENOTSUP);
	zassert_equal(zpair_ble_start_adv(&adv), -ENOTSUP);
	zassert_equal(zpair_ble_stop_adv(), -ENOTSUP);
	zassert_equal(zpair_ble_gatt_notify(1, NULL, 0), -ENOTSUP);
	zassert_equal(zpair_ble_gatt_mtu(1), 23);
	zassert_equal(zpair_ble_gatt_disconnect(1), -ENOTSUP);
}

ZTEST(zpair_backends_off, test_cellular_is_not_supported)
{
	struct zpair_cellular_info info;

	zassert_equal(zpair_cellular_set_callback(NULL, NULL), -ENOTSUP);
	zassert_equal(zpair_cellular_modem_attach(), -ENOTSUP);
	zassert_equal(zpair_cellular_modem_detach(), -ENOTSUP);
	zassert_equal(zpair_cellular_info(&info), -ENOTSUP);
}

ZTEST_SUITE(zpair_backends_off, NULL, NULL, NULL, NULL, NULL);
