/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * A scripted fake Wi-Fi radio for the SoftAP end-to-end test, adapted from
 * tests/backends/wifi/src/fake_wifi.c (itself in the style of zephyr/tests/net/wifi/wifi_nm).
 *
 * It is an offloaded (full-MAC) Wi-Fi device, like esp_at or eswifi: the wifi_mgmt_ops of a
 * struct net_wifi_mgmt_offload on an offloaded network interface. Its IP stack and sockets are
 * the "module's" - in this image the host's, through NSOS (native offloaded sockets): the
 * device's pairing listener and its connection to the cloud are host sockets the host tools
 * reach. Wi-Fi management goes through net_mgmt to this driver, which answers from its own
 * work items like a real driver answers from its thread.
 *
 * The scripted air: the router CONFIG_ZPAIR_TEST_HOME_SSID (WPA2-PSK) accepts exactly
 * CONFIG_ZPAIR_TEST_HOME_PSK and then "leases" CONFIG_ZPAIR_TEST_LEASE_ADDR (the address
 * appears on the interface, as an offloaded module reports its DHCP lease); any other
 * passphrase is refused with WIFI_STATUS_CONN_WRONG_PASSWORD, an unknown SSID with
 * WIFI_STATUS_CONN_AP_NOT_FOUND. "NoLease" (WPA2-PSK, same passphrase) associates but its DHCP
 * server never answers. Two more networks are only visible in scans.
 *
 * One radio: the station and the access point exclude each other (-EBUSY), as on the nRF7002.
 * The passphrase is compared, never stored or printed.
 */
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/net/net_if.h>
#include <zephyr/net/net_ip.h>
#include <zephyr/net/offloaded_netdev.h>
#include <zephyr/net/socket.h>
#include <zephyr/net/wifi_mgmt.h>
#include <zephyr/sys/printk.h>

struct fake_ap {
	const char *ssid;
	enum wifi_security_type security;
	const char *psk;
	uint8_t channel;
	int8_t rssi;
	uint8_t bssid[WIFI_MAC_ADDR_LEN];
	/* Its DHCP server answers. */
	bool dhcp;
};

/* Documentation MAC range 00-00-5E-00-53-xx (RFC 7042). */
static const struct fake_ap air[] = {
	{CONFIG_ZPAIR_TEST_HOME_SSID, WIFI_SECURITY_TYPE_PSK, CONFIG_ZPAIR_TEST_HOME_PSK, 6, -42,
	 {0x00, 0x00, 0x5e, 0x00, 0x53, 0x10}, true},
	{"NoLease", WIFI_SECURITY_TYPE_PSK, CONFIG_ZPAIR_TEST_HOME_PSK, 3, -60,
	 {0x00, 0x00, 0x5e, 0x00, 0x53, 0x13}, false},
	{"Neighbour", WIFI_SECURITY_TYPE_SAE, "not your network", 11, -71,
	 {0x00, 0x00, 0x5e, 0x00, 0x53, 0x11}, true},
	{"CoffeeShop", WIFI_SECURITY_TYPE_NONE, NULL, 1, -80, {0x00, 0x00, 0x5e, 0x00, 0x53, 0x12},
	 true},
};

static struct {
	struct net_if *iface;
	uint8_t mac[6];
	scan_result_cb_t scan_cb;
	/* The radio: access point enabled, station associated, lease on the interface. */
	bool ap_enabled;
	bool associated;
	bool leased;
	int connect_status;
	const struct fake_ap *joined;
	struct in_addr lease;
} fake;

static K_MUTEX_DEFINE(fake_lock);

static void scan_work_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	for (size_t i = 0; i < ARRAY_SIZE(air); i++) {
		struct wifi_scan_result r = {
			.ssid_length = strlen(air[i].ssid),
			.security = air[i].security,
			.channel = air[i].channel,
			.rssi = air[i].rssi,
			.band = WIFI_FREQ_BAND_2_4_GHZ,
			.mac_length = WIFI_MAC_ADDR_LEN,
		};

		memcpy(r.ssid, air[i].ssid, r.ssid_length);
		memcpy(r.mac, air[i].bssid, WIFI_MAC_ADDR_LEN);
		fake.scan_cb(fake.iface, 0, &r);
	}
	fake.scan_cb(fake.iface, 0, NULL);
}

static void lease_work_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	k_mutex_lock(&fake_lock, K_FOREVER);
	if (fake.associated && !fake.leased && fake.joined->dhcp) {
		fake.leased = true;
		printk("fake_wifi: DHCP lease %s\n", CONFIG_ZPAIR_TEST_LEASE_ADDR);
		(void)net_if_ipv4_addr_add(fake.iface, &fake.lease, NET_ADDR_DHCP, 0);
	}
	k_mutex_unlock(&fake_lock);
}

static void connect_work_fn(struct k_work *work);
static void disconnect_work_fn(struct k_work *work);
static void ap_work_fn(struct k_work *work);

static K_WORK_DEFINE(scan_work, scan_work_fn);
static K_WORK_DEFINE(connect_work, connect_work_fn);
static K_WORK_DEFINE(disconnect_work, disconnect_work_fn);
static K_WORK_DELAYABLE_DEFINE(lease_work, lease_work_fn);
static K_WORK_DEFINE(ap_enable_work, ap_work_fn);
static K_WORK_DEFINE(ap_disable_work, ap_work_fn);

static void connect_work_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	wifi_mgmt_raise_connect_result_event(fake.iface, fake.connect_status);
	if (fake.connect_status == WIFI_STATUS_CONN_SUCCESS) {
		k_work_reschedule(&lease_work, K_MSEC(100));
	}
}

static void disconnect_work_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	wifi_mgmt_raise_disconnect_result_event(fake.iface, 0);
}

static void ap_work_fn(struct k_work *work)
{
	if (work == &ap_enable_work) {
		wifi_mgmt_raise_ap_enable_result_event(fake.iface, WIFI_STATUS_AP_SUCCESS);
	} else {
		wifi_mgmt_raise_ap_disable_result_event(fake.iface, WIFI_STATUS_AP_SUCCESS);
	}
}

static int fake_scan(const struct device *dev, struct wifi_scan_params *params,
		     scan_result_cb_t cb)
{
	ARG_UNUSED(dev);
	ARG_UNUSED(params);
	printk("fake_wifi: scan\n");
	fake.scan_cb = cb;
	k_work_submit(&scan_work);
	return 0;
}

static bool security_fits(enum wifi_security_type ap, enum wifi_security_type asked)
{
	switch (ap) {
	case WIFI_SECURITY_TYPE_NONE:
		return asked == WIFI_SECURITY_TYPE_NONE;
	case WIFI_SECURITY_TYPE_PSK:
		return asked == WIFI_SECURITY_TYPE_PSK ||
		       asked == WIFI_SECURITY_TYPE_WPA_AUTO_PERSONAL;
	default:
		return asked == WIFI_SECURITY_TYPE_SAE_AUTO || asked == WIFI_SECURITY_TYPE_SAE ||
		       asked == WIFI_SECURITY_TYPE_WPA_AUTO_PERSONAL;
	}
}

static int fake_connect(const struct device *dev, struct wifi_connect_req_params *p)
{
	const struct fake_ap *ap = NULL;
	const char *outcome;
	int ret = 0;

	ARG_UNUSED(dev);
	k_mutex_lock(&fake_lock, K_FOREVER);
	if (fake.ap_enabled) {
		/* One radio. */
		printk("fake_wifi: connect refused: the access point runs\n");
		ret = -EBUSY;
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(air); i++) {
		if (strlen(air[i].ssid) == p->ssid_length &&
		    memcmp(air[i].ssid, p->ssid, p->ssid_length) == 0) {
			ap = &air[i];
		}
	}
	if (ap == NULL) {
		fake.connect_status = WIFI_STATUS_CONN_AP_NOT_FOUND;
		outcome = "AP not found";
	} else if (!security_fits(ap->security, p->security)) {
		fake.connect_status = WIFI_STATUS_CONN_FAIL;
		outcome = "security mismatch";
	} else if (ap->psk != NULL &&
		   (p->psk == NULL || p->psk_length != strlen(ap->psk) ||
		    memcmp(p->psk, ap->psk, p->psk_length) != 0)) {
		fake.connect_status = WIFI_STATUS_CONN_WRONG_PASSWORD;
		outcome = "wrong password";
	} else {
		fake.connect_status = WIFI_STATUS_CONN_SUCCESS;
		fake.associated = true;
		fake.joined = ap;
		outcome = ap->dhcp ? "associated" : "associated (its DHCP server is silent)";
	}
	printk("fake_wifi: connect to %.*s (security %d, passphrase %u bytes): %s\n",
	       p->ssid_length, p->ssid, p->security, p->psk_length, outcome);
	k_work_submit(&connect_work);
out:
	k_mutex_unlock(&fake_lock);
	return ret;
}

static int fake_disconnect(const struct device *dev)
{
	ARG_UNUSED(dev);
	k_mutex_lock(&fake_lock, K_FOREVER);
	k_work_cancel_delayable(&lease_work);
	if (fake.leased) {
		(void)net_if_ipv4_addr_rm(fake.iface, &fake.lease);
		fake.leased = false;
	}
	if (fake.associated) {
		fake.associated = false;
		printk("fake_wifi: disconnected\n");
		k_work_submit(&disconnect_work);
	}
	k_mutex_unlock(&fake_lock);
	return 0;
}

static int fake_ap_enable(const struct device *dev, struct wifi_connect_req_params *p)
{
	int ret = 0;

	ARG_UNUSED(dev);
	k_mutex_lock(&fake_lock, K_FOREVER);
	if (fake.associated) {
		printk("fake_wifi: AP refused: the station is associated\n");
		ret = -EBUSY;
	} else {
		fake.ap_enabled = true;
		printk("fake_wifi: AP %.*s on channel %u (security %d)\n", p->ssid_length, p->ssid,
		       p->channel, p->security);
		k_work_submit(&ap_enable_work);
	}
	k_mutex_unlock(&fake_lock);
	return ret;
}

static int fake_ap_disable(const struct device *dev)
{
	ARG_UNUSED(dev);
	k_mutex_lock(&fake_lock, K_FOREVER);
	if (fake.ap_enabled) {
		fake.ap_enabled = false;
		printk("fake_wifi: AP off\n");
		k_work_submit(&ap_disable_work);
	}
	k_mutex_unlock(&fake_lock);
	return 0;
}

static const struct wifi_mgmt_ops fake_mgmt_ops = {
	.scan = fake_scan,
	.connect = fake_connect,
	.disconnect = fake_disconnect,
	.ap_enable = fake_ap_enable,
	.ap_disable = fake_ap_disable,
};

static enum offloaded_net_if_types fake_get_type(void)
{
	return L2_OFFLOADED_NET_IF_TYPE_WIFI;
}

/* The module's sockets: the system's, i.e. NSOS (registered ahead of the native stack). */
static int fake_socket_create(int family, int type, int proto)
{
	return zsock_socket(family, type, proto);
}

static void fake_iface_init(struct net_if *iface)
{
	fake.iface = iface;
	net_if_set_link_addr(iface, fake.mac, sizeof(fake.mac), NET_LINK_ETHERNET);
	/* A socket-offloaded interface, as esp_at marks its own: net_if_is_offloaded() (so the
	 * Wi-Fi layer treats it as a full-MAC device) and no native IP on it.
	 */
	net_if_socket_offload_set(iface, fake_socket_create);
}

static const struct net_wifi_mgmt_offload fake_api = {
	.wifi_iface.iface_api.init = fake_iface_init,
	.wifi_iface.get_type = fake_get_type,
	.wifi_mgmt_api = &fake_mgmt_ops,
};

static int fake_init(const struct device *dev)
{
	ARG_UNUSED(dev);
	fake.mac[0] = 0x00;
	fake.mac[1] = 0x00;
	fake.mac[2] = 0x5e;
	fake.mac[3] = 0x00;
	fake.mac[4] = 0x53;
	fake.mac[5] = 0x01;
	return net_addr_pton(AF_INET, CONFIG_ZPAIR_TEST_LEASE_ADDR, &fake.lease);
}

NET_DEVICE_OFFLOAD_INIT(fake_wlan0, "fake_wifi", fake_init, NULL, NULL, NULL,
			CONFIG_KERNEL_INIT_PRIORITY_DEVICE, &fake_api, 1500);
