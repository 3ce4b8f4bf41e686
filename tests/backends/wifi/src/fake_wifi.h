/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * A scripted fake Wi-Fi driver (wifi_mgmt_ops on an Ethernet-L2 interface). The test sets the
 * script, the driver answers from the system work queue as a real driver answers from its own
 * thread, and records what it was asked.
 */
#ifndef FAKE_WIFI_H_
#define FAKE_WIFI_H_

#include <zephyr/net/net_if.h>
#include <zephyr/net/wifi_mgmt.h>

/* connect_status value: the driver never reports a connect result. */
#define FAKE_SILENT (-1000)

#define FAKE_MAX_RESULTS 6

struct fake_script {
	/* Synchronous return values of the operations. */
	int scan_ret;
	int connect_ret;
	int ap_enable_ret;
	/* Scan: these results, then done with scan_status (FAKE_SILENT: never done). */
	struct wifi_scan_result results[FAKE_MAX_RESULTS];
	int n_results;
	int scan_status;
	/* Connect result status (enum wifi_conn_status) or FAKE_SILENT. */
	int connect_status;
};

struct fake_record {
	int scan_calls;
	char scan_ssid[WIFI_SSID_MAX_LEN + 1];
	int connect_calls;
	uint8_t ssid[WIFI_SSID_MAX_LEN];
	uint8_t ssid_len;
	uint8_t psk_len;
	bool psk_matches;
	enum wifi_security_type security;
	enum wifi_mfp_options mfp;
	uint8_t channel;
	uint8_t band;
	uint8_t bssid[WIFI_MAC_ADDR_LEN];
	int timeout;
	int disconnect_calls;
	int ap_enable_calls;
	int ap_disable_calls;
	char ap_ssid[WIFI_SSID_MAX_LEN + 1];
	uint8_t ap_channel;
	enum wifi_security_type ap_security;
};

extern struct fake_script fake_script;
extern struct fake_record fake_record;
/* The passphrase the test expects the driver to receive (compared, never stored). */
extern const char *fake_expected_psk;

/* Resets script (everything succeeds, no scan results) and record. */
void fake_reset(void);
struct net_if *fake_iface(void);

#endif /* FAKE_WIFI_H_ */
