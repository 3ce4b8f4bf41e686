/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The Wi-Fi backend's flat API against the scripted fake driver: every event it promises, the
 * mapping of Zephyr's connect statuses to zpair's errors, and the SoftAP's DHCPv4 server and
 * TCP listener (a TCP client in this test connects to the AP address through the IP stack).
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/dhcpv4_server.h>
#include <zephyr/net/net_if.h>
#include <zephyr/net/socket.h>
#include <zephyr/net/wifi_mgmt.h>
#include <zephyr/ztest.h>

#include <zpair/shim_backends.h>

#include "fake_wifi.h"


#define EVT_TIMEOUT K_SECONDS(3)
/* Longer than CONFIG_ZPAIR_WIFI_CONNECT_TIMEOUT_S + 5 s of slack. */
#define CONNECT_GIVE_UP K_SECONDS(CONFIG_ZPAIR_WIFI_CONNECT_TIMEOUT_S + 8)

struct captured {
	struct zpair_wifi_event evt;
	uint8_t data[ZPAIR_WIFI_TCP_CHUNK];
	k_tid_t thread;
	bool user_ok;
};

K_MSGQ_DEFINE(events, sizeof(struct captured), 24, 4);

static void on_event(const struct zpair_wifi_event *evt, void *user)
{
	struct captured c = {.evt = *evt, .thread = k_current_get(), .user_ok = user == &events};

	if (evt->data != NULL && evt->len > 0) {
		memcpy(c.data, evt->data, MIN(evt->len, sizeof(c.data)));
	}
	c.evt.data = NULL;
	if (k_msgq_put(&events, &c, K_NO_WAIT) != 0) {
		printk("event queue full, kind %u lost\n", evt->kind);
	}
}

static struct captured expect_event(uint8_t kind, k_timeout_t timeout)
{
	struct captured c;
	int ret = k_msgq_get(&events, &c, timeout);

	zassert_ok(ret, "no event (expected kind %u)", kind);
	zassert_equal(c.evt.kind, kind, "event kind %u, expected %u (error 0x%02x status %d)",
		      c.evt.kind, kind, c.evt.error, c.evt.status);
	zassert_true(c.user_ok, "the user pointer comes back");
	return c;
}

static void expect_no_event(k_timeout_t timeout)
{
	struct captured c = {0};
	int ret = k_msgq_get(&events, &c, timeout);

	zassert_not_equal(ret, 0, "unexpected event kind %u (error 0x%02x status %d)", c.evt.kind,
			  c.evt.error, c.evt.status);
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	zassert_ok(net_addr_pton(AF_INET, s, &a));
	return a.s_addr;
}

static void add_addr(const char *s, enum net_addr_type type)
{
	struct in_addr a = {.s_addr = ip(s)};

	zassert_not_null(net_if_ipv4_addr_add(fake_iface(), &a, type, 0));
}

static void rm_addr(const char *s)
{
	struct in_addr a = {.s_addr = ip(s)};

	(void)net_if_ipv4_addr_rm(fake_iface(), &a);
}

static struct zpair_wifi_connect_params wpa2(void)
{
	static const char ssid[] = "HomeNet-24";
	static const char psk[] = "correct horse";
	struct zpair_wifi_connect_params p = {
		.ssid = (const uint8_t *)ssid,
		.ssid_len = sizeof(ssid) - 1,
		.security = ZPAIR_WIFI_SEC_WPA2_PSK,
		.psk = (const uint8_t *)psk,
		.psk_len = sizeof(psk) - 1,
	};

	fake_expected_psk = psk;
	return p;
}

static void *suite_setup(void)
{
	zassert_not_null(fake_iface(), "fake Wi-Fi interface");
	zassert_ok(zpair_wifi_set_callback(on_event, &events));
	return NULL;
}

static void before(void *f)
{
	ARG_UNUSED(f);
	(void)zpair_wifi_ap_stop();
	(void)zpair_wifi_sta_disconnect();
	rm_addr("192.168.1.77");
	k_sleep(K_MSEC(50));
	k_msgq_purge(&events);
	fake_reset();
}

/* ------------------------------------------------------------------------------------------ */

ZTEST(zpair_wifi, test_ap_ssid)
{
	char buf[40];

	zassert_equal(zpair_wifi_ap_ssid(0x0011223344556677ULL, buf, sizeof(buf)), 10);
	zassert_str_equal(buf, "zpair-6677");
	zassert_equal(zpair_wifi_ap_ssid(0xabcdULL, buf, sizeof(buf)), 10);
	zassert_str_equal(buf, "zpair-abcd");
	zassert_equal(zpair_wifi_ap_ssid(0x5ULL, buf, sizeof(buf)), 10);
	zassert_str_equal(buf, "zpair-0005");
	zassert_equal(zpair_wifi_ap_ssid(1, buf, 10), -ENOSPC, "no room for the NUL");
	zassert_equal(zpair_wifi_ap_ssid(1, NULL, 0), -ENOSPC);
}

static void set_result(int i, const char *ssid, enum wifi_security_type sec, uint8_t channel,
		       int8_t rssi)
{
	struct wifi_scan_result *r = &fake_script.results[i];

	memset(r, 0, sizeof(*r));
	r->ssid_length = strlen(ssid);
	memcpy(r->ssid, ssid, r->ssid_length);
	r->security = sec;
	r->channel = channel;
	r->band = channel <= 14 ? WIFI_FREQ_BAND_2_4_GHZ : WIFI_FREQ_BAND_5_GHZ;
	r->rssi = rssi;
	r->mac_length = WIFI_MAC_ADDR_LEN;
	r->mac[0] = 0x02;
	r->mac[5] = (uint8_t)i;
}

ZTEST(zpair_wifi, test_scan_results_and_security_mapping)
{
	static const struct {
		const char *ssid;
		enum wifi_security_type sec;
		uint8_t expect;
	} nets[] = {
		{"HomeNet-24", WIFI_SECURITY_TYPE_PSK, ZPAIR_WIFI_SEC_WPA2_PSK},
		{"Cafe", WIFI_SECURITY_TYPE_NONE, ZPAIR_WIFI_SEC_OPEN},
		{"Modern", WIFI_SECURITY_TYPE_SAE_H2E, ZPAIR_WIFI_SEC_WPA3_SAE},
		{"Mixed", WIFI_SECURITY_TYPE_WPA_AUTO_PERSONAL, ZPAIR_WIFI_SEC_WPA2_WPA3},
		{"Old", WIFI_SECURITY_TYPE_WEP, ZPAIR_WIFI_SEC_UNSUPPORTED},
		{"Office", WIFI_SECURITY_TYPE_EAP_TLS, ZPAIR_WIFI_SEC_UNSUPPORTED},
	};

	for (int i = 0; i < ARRAY_SIZE(nets); i++) {
		set_result(i, nets[i].ssid, nets[i].sec, i == 2 ? 36 : 6, -40 - i);
	}
	fake_script.n_results = ARRAY_SIZE(nets);

	zassert_ok(zpair_wifi_scan_start(NULL, 0));
	zassert_equal(fake_record.scan_calls, 1);
	zassert_str_equal(fake_record.scan_ssid, "", "no SSID filter");

	for (int i = 0; i < ARRAY_SIZE(nets); i++) {
		struct captured c = expect_event(ZPAIR_WIFI_EVT_SCAN_RESULT, EVT_TIMEOUT);

		zassert_equal(c.evt.scan.ssid_len, strlen(nets[i].ssid));
		zassert_mem_equal(c.evt.scan.ssid, nets[i].ssid, c.evt.scan.ssid_len);
		zassert_equal(c.evt.scan.security, nets[i].expect, "%s", nets[i].ssid);
		zassert_equal(c.evt.scan.zephyr_security, nets[i].sec);
		zassert_equal(c.evt.scan.rssi, -40 - i);
		zassert_equal(c.evt.scan.channel, i == 2 ? 36 : 6);
		zassert_equal(c.evt.scan.band, i == 2 ? WIFI_FREQ_BAND_5_GHZ : 0);
		zassert_equal(c.evt.scan.bssid[0], 0x02);
		zassert_equal(c.evt.scan.bssid[5], i);
	}
	struct captured done = expect_event(ZPAIR_WIFI_EVT_SCAN_DONE, EVT_TIMEOUT);

	zassert_equal(done.evt.status, 0);
	expect_no_event(K_MSEC(100));
}

ZTEST(zpair_wifi, test_scan_hidden_ssid_and_busy)
{
	static const char hidden[] = "Hidden-Net";

	fake_script.scan_status = FAKE_SILENT;
	set_result(0, hidden, WIFI_SECURITY_TYPE_PSK, 11, -60);
	fake_script.n_results = 1;

	zassert_equal(zpair_wifi_scan_start((const uint8_t *)hidden, 33), -EINVAL);
	zassert_ok(zpair_wifi_scan_start((const uint8_t *)hidden, sizeof(hidden) - 1));
	zassert_str_equal(fake_record.scan_ssid, hidden, "the scan probes for the hidden SSID");
	zassert_equal(zpair_wifi_scan_start(NULL, 0), -EBUSY, "one scan at a time");

	expect_event(ZPAIR_WIFI_EVT_SCAN_RESULT, EVT_TIMEOUT);
	/* The driver never says it is done: the backend's scan timeout does. */
	struct captured done = expect_event(ZPAIR_WIFI_EVT_SCAN_DONE,
					    K_SECONDS(CONFIG_ZPAIR_WIFI_SCAN_TIMEOUT_S + 3));

	zassert_equal(done.evt.status, -ETIMEDOUT);
	zassert_ok(zpair_wifi_scan_start(NULL, 0), "a new scan may start");
	fake_script.scan_status = 0;
	expect_event(ZPAIR_WIFI_EVT_SCAN_RESULT, EVT_TIMEOUT);
	expect_event(ZPAIR_WIFI_EVT_SCAN_DONE, EVT_TIMEOUT);
}

ZTEST(zpair_wifi, test_scan_driver_error)
{
	fake_script.scan_ret = -EIO;
	zassert_equal(zpair_wifi_scan_start(NULL, 0), -EIO);
	fake_script.scan_ret = 0;
	zassert_ok(zpair_wifi_scan_start(NULL, 0), "not left busy");
	expect_event(ZPAIR_WIFI_EVT_SCAN_DONE, EVT_TIMEOUT);
}

ZTEST(zpair_wifi, test_connect_then_address_event)
{
	struct zpair_wifi_connect_params p = wpa2();
	uint32_t got = 0;

	fake_script.connect_status = WIFI_STATUS_CONN_SUCCESS;
	zassert_ok(zpair_wifi_sta_connect(&p));
	zassert_equal(fake_record.connect_calls, 1);
	zassert_equal(fake_record.ssid_len, p.ssid_len);
	zassert_mem_equal(fake_record.ssid, p.ssid, p.ssid_len);
	zassert_true(fake_record.psk_matches, "the driver received the passphrase");
	zassert_equal(fake_record.security, WIFI_SECURITY_TYPE_PSK);
	zassert_equal(fake_record.channel, WIFI_CHANNEL_ANY);
	zassert_equal(fake_record.timeout, CONFIG_ZPAIR_WIFI_CONNECT_TIMEOUT_S);
	zassert_equal(zpair_wifi_sta_connect(&p), -EALREADY);
	zassert_equal(zpair_wifi_sta_status(&got), -ENETDOWN);

	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
	/* The lease: the DHCP client got an address. */
	add_addr("192.168.1.77", NET_ADDR_DHCP);
	struct captured up = expect_event(ZPAIR_WIFI_EVT_CONNECTED, EVT_TIMEOUT);

	zassert_equal(up.evt.ip4, ip("192.168.1.77"));
	zassert_equal(up.evt.error, ZPAIR_ERR_NONE);
	zassert_ok(zpair_wifi_sta_status(&got));
	zassert_equal(got, ip("192.168.1.77"));
	zassert_equal(zpair_wifi_sta_connect(&p), -EALREADY);

	zassert_ok(zpair_wifi_sta_disconnect());
	struct captured down = expect_event(ZPAIR_WIFI_EVT_DISCONNECTED, EVT_TIMEOUT);

	zassert_equal(down.evt.error, ZPAIR_ERR_NONE, "asked for: not an error");
	zassert_equal(fake_record.disconnect_calls, 1);
	zassert_equal(zpair_wifi_sta_status(&got), -ENETDOWN);
	zassert_ok(zpair_wifi_sta_disconnect(), "idempotent");
	zassert_equal(fake_record.disconnect_calls, 1);
	expect_no_event(K_MSEC(100));
}

ZTEST(zpair_wifi, test_connect_with_address_already_there)
{
	struct zpair_wifi_connect_params p = wpa2();

	add_addr("192.168.1.77", NET_ADDR_MANUAL);
	fake_script.connect_status = WIFI_STATUS_CONN_SUCCESS;
	zassert_ok(zpair_wifi_sta_connect(&p));
	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
	struct captured up = expect_event(ZPAIR_WIFI_EVT_CONNECTED, EVT_TIMEOUT);

	zassert_equal(up.evt.ip4, ip("192.168.1.77"));
	/* A DHCP renewal that re-announces the lease changes nothing. */
	net_mgmt_event_notify(NET_EVENT_IPV4_DHCP_BOUND, fake_iface());
	expect_no_event(K_MSEC(100));
}

ZTEST(zpair_wifi, test_dhcp_bound_event)
{
	struct zpair_wifi_connect_params p = wpa2();

	/* The driver answers only when told: the address appears while connecting. */
	fake_script.connect_status = FAKE_SILENT;
	zassert_ok(zpair_wifi_sta_connect(&p));
	add_addr("192.168.1.77", NET_ADDR_DHCP);
	expect_no_event(K_MSEC(100));
	/* Associated, then the DHCP client reports its lease. */
	wifi_mgmt_raise_connect_result_event(fake_iface(), WIFI_STATUS_CONN_SUCCESS);
	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
	net_mgmt_event_notify(NET_EVENT_IPV4_DHCP_BOUND, fake_iface());
	struct captured up = expect_event(ZPAIR_WIFI_EVT_CONNECTED, EVT_TIMEOUT);

	zassert_equal(up.evt.ip4, ip("192.168.1.77"));
	expect_no_event(K_MSEC(100));
}

static void connect_fails_with(int status, uint8_t error)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_status = status;
	zassert_ok(zpair_wifi_sta_connect(&p));
	struct captured c = expect_event(ZPAIR_WIFI_EVT_CONNECT_FAILED, EVT_TIMEOUT);

	zassert_equal(c.evt.error, error, "status %d: error 0x%02x, expected 0x%02x", status,
		      c.evt.error, error);
	zassert_equal(c.evt.status, status);
	zassert_equal(c.evt.ip4, 0);
}

ZTEST(zpair_wifi, test_connect_error_mapping)
{
	connect_fails_with(WIFI_STATUS_CONN_WRONG_PASSWORD, ZPAIR_ERR_WRONG_PASSWORD);
	/* After a failure a new attempt is allowed; the backend resets the radio first. */
	zassert_equal(fake_record.disconnect_calls, 0);
	connect_fails_with(WIFI_STATUS_CONN_AP_NOT_FOUND, ZPAIR_ERR_AP_NOT_FOUND);
	zassert_equal(fake_record.disconnect_calls, 1);
	connect_fails_with(WIFI_STATUS_CONN_FAIL, ZPAIR_ERR_ASSOCIATION_FAILED);
	connect_fails_with(WIFI_STATUS_CONN_TIMEOUT, ZPAIR_ERR_ASSOCIATION_FAILED);
	connect_fails_with(17, ZPAIR_ERR_ASSOCIATION_FAILED);
	zassert_equal(fake_record.connect_calls, 5);
	expect_no_event(K_MSEC(100));
}

ZTEST(zpair_wifi, test_connect_request_refused)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_ret = -EIO;
	zassert_equal(zpair_wifi_sta_connect(&p), -EIO);
	fake_script.connect_ret = 0;
	fake_script.connect_status = WIFI_STATUS_CONN_WRONG_PASSWORD;
	zassert_ok(zpair_wifi_sta_connect(&p), "a refused request leaves nothing pending");
	expect_event(ZPAIR_WIFI_EVT_CONNECT_FAILED, EVT_TIMEOUT);
}

ZTEST(zpair_wifi, test_connect_driver_silent)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_status = FAKE_SILENT;
	zassert_ok(zpair_wifi_sta_connect(&p));
	struct captured c = expect_event(ZPAIR_WIFI_EVT_CONNECT_FAILED, CONNECT_GIVE_UP);

	zassert_equal(c.evt.error, ZPAIR_ERR_ASSOCIATION_FAILED);
	zassert_equal(c.evt.status, -ETIMEDOUT);
	/* A late success from the driver is not reported. */
	wifi_mgmt_raise_connect_result_event(fake_iface(), WIFI_STATUS_CONN_SUCCESS);
	expect_no_event(K_MSEC(200));
}

ZTEST(zpair_wifi, test_dhcp_timeout)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_status = WIFI_STATUS_CONN_SUCCESS;
	zassert_ok(zpair_wifi_sta_connect(&p));
	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
	/* The DHCPv4 client runs but nobody answers. */
	struct captured c = expect_event(ZPAIR_WIFI_EVT_CONNECT_FAILED,
					 K_SECONDS(CONFIG_ZPAIR_WIFI_DHCP_TIMEOUT_S + 3));

	zassert_equal(c.evt.error, ZPAIR_ERR_DHCP_TIMEOUT);
	zassert_equal(c.evt.status, -ETIMEDOUT);
	/* A lease after the verdict is not reported either. */
	add_addr("192.168.1.77", NET_ADDR_DHCP);
	expect_no_event(K_MSEC(200));
	zassert_ok(zpair_wifi_sta_disconnect());
	zassert_equal(fake_record.disconnect_calls, 1);
	expect_no_event(K_MSEC(100));
}

ZTEST(zpair_wifi, test_link_lost)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_status = WIFI_STATUS_CONN_SUCCESS;
	zassert_ok(zpair_wifi_sta_connect(&p));
	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
	add_addr("192.168.1.77", NET_ADDR_DHCP);
	expect_event(ZPAIR_WIFI_EVT_CONNECTED, EVT_TIMEOUT);

	wifi_mgmt_raise_disconnect_result_event(fake_iface(), WIFI_REASON_DISCONN_AP_LEAVING);
	struct captured c = expect_event(ZPAIR_WIFI_EVT_DISCONNECTED, EVT_TIMEOUT);

	zassert_equal(c.evt.error, ZPAIR_ERR_LINK_LOST);
	zassert_equal(c.evt.status, WIFI_REASON_DISCONN_AP_LEAVING);
	zassert_equal(zpair_wifi_sta_status(NULL), -ENETDOWN);
}

ZTEST(zpair_wifi, test_address_lost)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_status = WIFI_STATUS_CONN_SUCCESS;
	zassert_ok(zpair_wifi_sta_connect(&p));
	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
	add_addr("192.168.1.77", NET_ADDR_DHCP);
	expect_event(ZPAIR_WIFI_EVT_CONNECTED, EVT_TIMEOUT);
	rm_addr("192.168.1.77");
	struct captured c = expect_event(ZPAIR_WIFI_EVT_DISCONNECTED, EVT_TIMEOUT);

	zassert_equal(c.evt.error, ZPAIR_ERR_LINK_LOST);
}

ZTEST(zpair_wifi, test_disconnect_event_while_connecting_is_not_a_failure)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_status = FAKE_SILENT;
	zassert_ok(zpair_wifi_sta_connect(&p));
	/* A supplicant leaving the previous network first. */
	wifi_mgmt_raise_disconnect_result_event(fake_iface(), 0);
	expect_no_event(K_MSEC(200));
	wifi_mgmt_raise_connect_result_event(fake_iface(), WIFI_STATUS_CONN_SUCCESS);
	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
}

ZTEST(zpair_wifi, test_connect_parameters)
{
	static const char ssid[] = "Net";
	static const char psk[] = "12345678";
	static const uint8_t bssid[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	static const struct {
		uint8_t zpair;
		enum wifi_security_type zephyr;
		enum wifi_mfp_options mfp;
	} map[] = {
		{ZPAIR_WIFI_SEC_OPEN, WIFI_SECURITY_TYPE_NONE, WIFI_MFP_OPTIONAL},
		{ZPAIR_WIFI_SEC_WPA2_PSK, WIFI_SECURITY_TYPE_PSK, WIFI_MFP_OPTIONAL},
		{ZPAIR_WIFI_SEC_WPA2_WPA3, WIFI_SECURITY_TYPE_WPA_AUTO_PERSONAL, WIFI_MFP_OPTIONAL},
		{ZPAIR_WIFI_SEC_WPA3_SAE, WIFI_SECURITY_TYPE_SAE_AUTO, WIFI_MFP_REQUIRED},
	};
	struct zpair_wifi_connect_params p = {
		.ssid = (const uint8_t *)ssid,
		.ssid_len = sizeof(ssid) - 1,
	};

	fake_expected_psk = psk;
	fake_script.connect_status = FAKE_SILENT;
	for (int i = 0; i < ARRAY_SIZE(map); i++) {
		p.security = map[i].zpair;
		p.psk = map[i].zpair == ZPAIR_WIFI_SEC_OPEN ? NULL : (const uint8_t *)psk;
		p.psk_len = map[i].zpair == ZPAIR_WIFI_SEC_OPEN ? 0 : sizeof(psk) - 1;
		p.channel = i == 3 ? 36 : 6;
		p.bssid = i == 1 ? bssid : NULL;
		p.hidden = i == 2;
		zassert_ok(zpair_wifi_sta_connect(&p), "security %u", map[i].zpair);
		zassert_equal(fake_record.security, map[i].zephyr, "security %u", map[i].zpair);
		zassert_equal(fake_record.mfp, map[i].mfp, "security %u", map[i].zpair);
		zassert_equal(fake_record.psk_len, p.psk_len);
		zassert_equal(fake_record.psk_matches, p.psk_len > 0);
		zassert_equal(fake_record.channel, p.channel);
		zassert_equal(fake_record.band,
			      i == 3 ? WIFI_FREQ_BAND_5_GHZ : WIFI_FREQ_BAND_2_4_GHZ);
		if (i == 1) {
			zassert_mem_equal(fake_record.bssid, bssid, sizeof(bssid));
		} else {
			zassert_equal(fake_record.bssid[0], 0, "no BSSID lock");
		}
		zassert_ok(zpair_wifi_sta_disconnect());
	}

	/* Refused before the driver sees them. */
	int calls = fake_record.connect_calls;

	p.security = 9;
	zassert_equal(zpair_wifi_sta_connect(&p), -ENOTSUP, "unknown security");
	p.security = ZPAIR_WIFI_SEC_WPA2_PSK;
	p.psk_len = 7;
	zassert_equal(zpair_wifi_sta_connect(&p), -EINVAL, "passphrase too short");
	p.psk_len = 65;
	zassert_equal(zpair_wifi_sta_connect(&p), -EINVAL, "passphrase too long");
	p.psk = NULL;
	p.psk_len = 8;
	zassert_equal(zpair_wifi_sta_connect(&p), -EINVAL, "passphrase missing");
	p.security = ZPAIR_WIFI_SEC_OPEN;
	p.psk = (const uint8_t *)psk;
	zassert_equal(zpair_wifi_sta_connect(&p), -EINVAL, "passphrase for an open network");
	p.psk_len = 0;
	p.ssid_len = 0;
	zassert_equal(zpair_wifi_sta_connect(&p), -EINVAL, "empty SSID");
	p.ssid_len = 33;
	zassert_equal(zpair_wifi_sta_connect(&p), -EINVAL, "SSID too long");
	zassert_equal(zpair_wifi_sta_connect(NULL), -EINVAL);
	zassert_equal(fake_record.connect_calls, calls);
	expect_no_event(K_MSEC(100));
}

/* ------------------------------------------------------------------------------------------ */
/* SoftAP                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static int tcp_client(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(CONFIG_ZPAIR_SOFTAP_PORT),
		.sin_addr.s_addr = ip(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR),
	};
	int fd = zsock_socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

	zassert_true(fd >= 0, "socket %d", errno);
	if (zsock_connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		zsock_close(fd);
		return -err;
	}
	return fd;
}

static void lease_cb(struct net_if *iface, struct dhcpv4_addr_slot *lease, void *user_data)
{
	ARG_UNUSED(iface);
	ARG_UNUSED(lease);
	(*(int *)user_data)++;
}

static bool has_addr(const char *s)
{
	struct in_addr a = {.s_addr = ip(s)};

	return net_if_ipv4_addr_lookup(&a, NULL) != NULL;
}

ZTEST(zpair_wifi, test_softap_listener_and_dhcp_server)
{
	int leases = 0;
	uint8_t buf[32];

	zassert_ok(zpair_wifi_ap_start(0x0011223344556677ULL));
	zassert_equal(fake_record.ap_enable_calls, 1);
	zassert_str_equal(fake_record.ap_ssid, "zpair-6677");
	zassert_equal(fake_record.ap_channel, CONFIG_ZPAIR_SOFTAP_CHANNEL);
	zassert_equal(fake_record.ap_security, WIFI_SECURITY_TYPE_NONE, "open AP");
	struct captured started = expect_event(ZPAIR_WIFI_EVT_AP_STARTED, EVT_TIMEOUT);

	zassert_equal(started.evt.ip4, ip(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR));
	zassert_equal(started.evt.scan.ssid_len, 10);
	zassert_mem_equal(started.evt.scan.ssid, "zpair-6677", 10);
	zassert_equal(started.evt.scan.channel, CONFIG_ZPAIR_SOFTAP_CHANNEL);
	zassert_true(has_addr(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR));
	/* The DHCPv4 server runs on the AP interface. */
	zassert_ok(net_dhcpv4_server_foreach_lease(fake_iface(), lease_cb, &leases));
	zassert_equal(leases, 0, "no phone yet");

	zassert_equal(zpair_wifi_ap_start(0x0011223344556677ULL), -EALREADY);
	struct zpair_wifi_connect_params p = wpa2();

	zassert_equal(zpair_wifi_sta_connect(&p), -EBUSY, "one radio: stop the AP first");

	/* A phone joins the AP. */
	struct wifi_ap_sta_info sta = {.mac_length = 6, .mac = {0x02, 1, 2, 3, 4, 5}};

	wifi_mgmt_raise_ap_sta_connected_event(fake_iface(), &sta);
	struct captured joined = expect_event(ZPAIR_WIFI_EVT_AP_STA_JOINED, EVT_TIMEOUT);

	zassert_mem_equal(joined.evt.scan.bssid, sta.mac, 6);

	/* The app connects to the pairing port. */
	int app = tcp_client();

	zassert_true(app >= 0, "connect: %d", app);
	struct captured acc = expect_event(ZPAIR_WIFI_EVT_TCP_ACCEPTED, EVT_TIMEOUT);
	uint32_t conn = acc.evt.conn;

	zassert_not_equal(conn, 0);
	zassert_equal(acc.evt.ip4, ip(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR), "the peer's address");

	/* app -> device: a stream-framed PairRequest header, raw bytes. */
	static const uint8_t req[] = {0x00, 0x44, 0x01, 0x01, 0x00};

	zassert_equal(zsock_send(app, req, sizeof(req), 0), sizeof(req));
	struct captured data = expect_event(ZPAIR_WIFI_EVT_TCP_DATA, EVT_TIMEOUT);

	zassert_equal(data.evt.conn, conn);
	zassert_equal(data.evt.len, sizeof(req));
	zassert_mem_equal(data.data, req, sizeof(req));

	/* device -> app */
	static const uint8_t rsp[] = {0x00, 0x02, 0x05, 0x16};

	zassert_ok(zpair_wifi_tcp_send(conn, rsp, sizeof(rsp)));
	zassert_equal(zsock_recv(app, buf, sizeof(buf), 0), sizeof(rsp));
	zassert_mem_equal(buf, rsp, sizeof(rsp));
	zassert_equal(zpair_wifi_tcp_send(conn + 100, rsp, sizeof(rsp)), -ENOTCONN);

	/* A second app is accepted (the core tells it "busy"); a third finds no room. */
	int app2 = tcp_client();

	zassert_true(app2 >= 0);
	struct captured acc2 = expect_event(ZPAIR_WIFI_EVT_TCP_ACCEPTED, EVT_TIMEOUT);

	zassert_not_equal(acc2.evt.conn, conn, "ids are not reused");
	int app3 = tcp_client();

	if (app3 >= 0) {
		/* Accepted by the stack, then closed by the backend. */
		zassert_true(zsock_recv(app3, buf, sizeof(buf), 0) <= 0, "refused");
		zsock_close(app3);
	}
	expect_no_event(K_MSEC(200));

	/* The device closes the second one: no event for it. */
	zassert_ok(zpair_wifi_tcp_close(acc2.evt.conn));
	zassert_equal(zpair_wifi_tcp_close(acc2.evt.conn), -ENOTCONN);
	zassert_equal(zsock_recv(app2, buf, sizeof(buf), 0), 0, "app 2 sees the close");
	zsock_close(app2);
	expect_no_event(K_MSEC(200));

	/* The first app leaves. */
	zsock_close(app);
	struct captured closed = expect_event(ZPAIR_WIFI_EVT_TCP_CLOSED, EVT_TIMEOUT);

	zassert_equal(closed.evt.conn, conn);
	zassert_equal(zpair_wifi_tcp_send(conn, rsp, sizeof(rsp)), -ENOTCONN);

	wifi_mgmt_raise_ap_sta_disconnected_event(fake_iface(), &sta);
	expect_event(ZPAIR_WIFI_EVT_AP_STA_LEFT, EVT_TIMEOUT);

	/* Stop: listener, server, address and AP go. */
	int app4 = tcp_client();

	zassert_true(app4 >= 0);
	struct captured acc4 = expect_event(ZPAIR_WIFI_EVT_TCP_ACCEPTED, EVT_TIMEOUT);

	zassert_ok(zpair_wifi_ap_stop());
	struct captured stopped = expect_event(ZPAIR_WIFI_EVT_AP_STOPPED, EVT_TIMEOUT);

	zassert_equal(stopped.evt.error, ZPAIR_ERR_NONE);
	zassert_equal(fake_record.ap_disable_calls, 1);
	zassert_equal(net_dhcpv4_server_foreach_lease(fake_iface(), lease_cb, &leases), -ENOENT,
		      "DHCPv4 server stopped");
	zassert_equal(zpair_wifi_tcp_send(acc4.evt.conn, rsp, sizeof(rsp)), -ENOTCONN);

	/* While a closing connection still holds the AP address, a station on the same
	 * interface must not take it for its lease.
	 */
	zassert_true(has_addr(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR), "app 4 still holds the address");
	fake_script.connect_status = WIFI_STATUS_CONN_SUCCESS;
	zassert_ok(zpair_wifi_sta_connect(&p));
	expect_event(ZPAIR_WIFI_EVT_ASSOCIATED, EVT_TIMEOUT);
	expect_no_event(K_MSEC(100));
	add_addr("192.168.1.77", NET_ADDR_DHCP);
	struct captured up = expect_event(ZPAIR_WIFI_EVT_CONNECTED, EVT_TIMEOUT);

	zassert_equal(up.evt.ip4, ip("192.168.1.77"));
	zassert_ok(zpair_wifi_sta_disconnect());
	expect_event(ZPAIR_WIFI_EVT_DISCONNECTED, EVT_TIMEOUT);
	rm_addr("192.168.1.77");

	zassert_equal(zsock_recv(app4, buf, sizeof(buf), 0), 0, "connections closed");
	zsock_close(app4);
	/* The address goes once the closing TCP connections have released it. */
	for (int i = 0; i < 100 && has_addr(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR); i++) {
		k_sleep(K_MSEC(100));
	}
	zassert_false(has_addr(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR), "AP address removed");
	zassert_ok(zpair_wifi_ap_stop(), "idempotent");
	expect_no_event(K_MSEC(200));

	/* The station may join now, and the AP may start again later. */
	fake_script.connect_status = WIFI_STATUS_CONN_WRONG_PASSWORD;
	zassert_ok(zpair_wifi_sta_connect(&p));
	expect_event(ZPAIR_WIFI_EVT_CONNECT_FAILED, EVT_TIMEOUT);
	zassert_ok(zpair_wifi_ap_start(0x0011223344556677ULL), "a failed station does not block");
	expect_event(ZPAIR_WIFI_EVT_AP_STARTED, EVT_TIMEOUT);
	zassert_ok(zpair_wifi_ap_stop());
	expect_event(ZPAIR_WIFI_EVT_AP_STOPPED, EVT_TIMEOUT);
}

ZTEST(zpair_wifi, test_softap_enable_refused)
{
	fake_script.ap_enable_ret = -EIO;
	zassert_equal(zpair_wifi_ap_start(1), -EIO);
	zassert_false(has_addr(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR), "address removed again");
	zassert_true(tcp_client() < 0, "no listener");
	expect_no_event(K_MSEC(100));
	fake_script.ap_enable_ret = 0;
	zassert_ok(zpair_wifi_ap_start(1));
	expect_event(ZPAIR_WIFI_EVT_AP_STARTED, EVT_TIMEOUT);
}

ZTEST(zpair_wifi, test_softap_driver_failure_event)
{
	zassert_ok(zpair_wifi_ap_start(1));
	expect_event(ZPAIR_WIFI_EVT_AP_STARTED, EVT_TIMEOUT);
	wifi_mgmt_raise_ap_enable_result_event(fake_iface(), WIFI_STATUS_AP_CHANNEL_NOT_ALLOWED);
	struct captured c = expect_event(ZPAIR_WIFI_EVT_AP_STOPPED, EVT_TIMEOUT);

	zassert_equal(c.evt.error, ZPAIR_ERR_INTERNAL);
	zassert_equal(c.evt.status, WIFI_STATUS_AP_CHANNEL_NOT_ALLOWED);
	zassert_false(has_addr(CONFIG_ZPAIR_SOFTAP_IPV4_ADDR));
	zassert_true(tcp_client() < 0, "no listener");
	/* A success report (the usual one) does not stop a running AP. */
	zassert_ok(zpair_wifi_ap_start(1));
	expect_event(ZPAIR_WIFI_EVT_AP_STARTED, EVT_TIMEOUT);
	wifi_mgmt_raise_ap_enable_result_event(fake_iface(), WIFI_STATUS_AP_SUCCESS);
	expect_no_event(K_MSEC(200));
}

ZTEST(zpair_wifi, test_events_run_outside_the_caller)
{
	struct zpair_wifi_connect_params p = wpa2();

	fake_script.connect_status = WIFI_STATUS_CONN_AP_NOT_FOUND;
	zassert_ok(zpair_wifi_sta_connect(&p));
	struct captured c = expect_event(ZPAIR_WIFI_EVT_CONNECT_FAILED, EVT_TIMEOUT);

	zassert_not_equal(c.thread, k_current_get(), "delivered by the net_mgmt thread");
}

ZTEST_SUITE(zpair_wifi, NULL, suite_setup, before, NULL, NULL);
