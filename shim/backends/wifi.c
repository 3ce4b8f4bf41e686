/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Wi-Fi backend: station (scan, connect, DHCP lease), and with CONFIG_ZPAIR_SOFTAP the access
 * point, its DHCPv4 server and the pairing TCP listener. Everything goes through net_mgmt and
 * the socket API, so it works with native drivers (wpa_supplicant/hostapd) and offloaded ones.
 * See zpair/shim_backends.h for the contract.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/net_event.h>
#include <zephyr/net/net_if.h>
#include <zephyr/net/net_ip.h>
#include <zephyr/net/net_mgmt.h>
#include <zephyr/net/wifi_mgmt.h>
#if defined(CONFIG_NET_DHCPV4)
#include <zephyr/net/dhcpv4.h>
#endif
#if defined(CONFIG_ZPAIR_SOFTAP)
#include <zephyr/net/socket.h>
#include <zephyr/net/socket_service.h>
#if defined(CONFIG_NET_DHCPV4_SERVER)
#include <zephyr/net/dhcpv4_server.h>
#endif
#endif

#include <zpair/shim_backends.h>

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

#define WIFI_EVENTS                                                                                \
	(NET_EVENT_WIFI_SCAN_RESULT | NET_EVENT_WIFI_SCAN_DONE | NET_EVENT_WIFI_CONNECT_RESULT |   \
	 NET_EVENT_WIFI_DISCONNECT_RESULT | NET_EVENT_WIFI_AP_ENABLE_RESULT |                      \
	 NET_EVENT_WIFI_AP_STA_CONNECTED | NET_EVENT_WIFI_AP_STA_DISCONNECTED)

#define IPV4_EVENTS (NET_EVENT_IPV4_ADDR_ADD | NET_EVENT_IPV4_ADDR_DEL | NET_EVENT_IPV4_DHCP_BOUND)

/* Slack on top of the connect timeout handed to the driver, before zpair gives up itself. */
#define CONNECT_SLACK_S 5

enum sta_state {
	/* Not connected, nothing pending. */
	STA_IDLE,
	/* NET_REQUEST_WIFI_CONNECT issued, waiting for the connect result. */
	STA_CONNECTING,
	/* Associated, waiting for an IPv4 address. */
	STA_WAIT_IP,
	/* Associated with an address. */
	STA_CONNECTED,
	/* A connect failed or the link broke: the radio may still be (re)trying or associated;
	 * zpair_wifi_sta_disconnect() (or the next connect) resets it.
	 */
	STA_FAILED,
};

#if defined(CONFIG_ZPAIR_SOFTAP)
#define TCP_FDS (1 + ZPAIR_WIFI_TCP_MAX_CONN)

/* The socket-service thread polls every service's descriptors plus its own eventfd at once. */
#if defined(CONFIG_NET_DHCPV4_SERVER)
#define POLL_NEEDED (TCP_FDS + CONFIG_NET_DHCPV4_SERVER_INSTANCES + 1)
#else
#define POLL_NEEDED (TCP_FDS + 1)
#endif
BUILD_ASSERT(CONFIG_ZVFS_POLL_MAX >= POLL_NEEDED,
	     "zpair SoftAP: raise CONFIG_ZVFS_POLL_MAX (listener, connections, DHCPv4 server and "
	     "the socket-service eventfd are polled together)");
#endif

static K_MUTEX_DEFINE(wifi_lock);

static struct {
	bool ready;
	zpair_wifi_cb_t cb;
	void *user;
	struct net_if *sta;
	struct net_if *ap;
	struct net_mgmt_event_callback wifi_mgmt_cb;
	struct net_mgmt_event_callback ipv4_cb;

	enum sta_state sta_state;
	uint32_t sta_ip;
	struct k_work_delayable sta_timer;

	bool scanning;
	struct k_work_delayable scan_timer;

#if defined(CONFIG_ZPAIR_SOFTAP)
	bool ap_up;
	/* The AP address was added by us (native stack) and must be removed on stop. */
	bool ap_addr_added;
	bool dhcp_server;
	struct in_addr ap_addr;
	struct zsock_pollfd fds[TCP_FDS];
	uint32_t conn_ids[TCP_FDS];
	uint32_t next_conn;
	/* tcp_service_handler() runs (in the socket-service thread, lock held). */
	bool in_handler;
#endif
} w;

static void emit(struct zpair_wifi_event *evt)
{
	if (w.cb != NULL) {
		w.cb(evt, w.user);
	}
}

static void emit_simple(uint8_t kind, uint8_t error, int32_t status, uint32_t ip4)
{
	struct zpair_wifi_event evt = {
		.kind = kind,
		.error = error,
		.status = status,
		.ip4 = ip4,
	};

	emit(&evt);
}

/* ------------------------------------------------------------------------------------------ */
/* Mappings                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Zephyr's connect status -> zpair error. */
static uint8_t map_conn_status(int status)
{
	switch (status) {
	case WIFI_STATUS_CONN_WRONG_PASSWORD:
		return ZPAIR_ERR_WRONG_PASSWORD;
	case WIFI_STATUS_CONN_AP_NOT_FOUND:
		return ZPAIR_ERR_AP_NOT_FOUND;
	case WIFI_STATUS_CONN_TIMEOUT:
	case WIFI_STATUS_CONN_FAIL:
	default:
		return ZPAIR_ERR_ASSOCIATION_FAILED;
	}
}

/* Zephyr's security type (scan result) -> zpair security code. */
static uint8_t map_security_from_zephyr(enum wifi_security_type sec)
{
	switch (sec) {
	case WIFI_SECURITY_TYPE_NONE:
		return ZPAIR_WIFI_SEC_OPEN;
	case WIFI_SECURITY_TYPE_PSK:
	case WIFI_SECURITY_TYPE_PSK_SHA256:
	case WIFI_SECURITY_TYPE_FT_PSK:
		return ZPAIR_WIFI_SEC_WPA2_PSK;
	case WIFI_SECURITY_TYPE_WPA_AUTO_PERSONAL:
		return ZPAIR_WIFI_SEC_WPA2_WPA3;
	case WIFI_SECURITY_TYPE_SAE_HNP:
	case WIFI_SECURITY_TYPE_SAE_H2E:
	case WIFI_SECURITY_TYPE_SAE_AUTO:
	case WIFI_SECURITY_TYPE_SAE_EXT_KEY:
	case WIFI_SECURITY_TYPE_FT_SAE:
		return ZPAIR_WIFI_SEC_WPA3_SAE;
	default:
		/* WEP, WPA1-only, WAPI, enterprise, DPP: not joinable with a passphrase here. */
		return ZPAIR_WIFI_SEC_UNSUPPORTED;
	}
}

/* zpair security code -> Zephyr's connect parameters. */
static int map_security_to_zephyr(uint8_t sec, struct wifi_connect_req_params *p)
{
	switch (sec) {
	case ZPAIR_WIFI_SEC_OPEN:
		p->security = WIFI_SECURITY_TYPE_NONE;
		p->mfp = WIFI_MFP_OPTIONAL;
		return 0;
	case ZPAIR_WIFI_SEC_WPA2_PSK:
		p->security = WIFI_SECURITY_TYPE_PSK;
		p->mfp = WIFI_MFP_OPTIONAL;
		return 0;
	case ZPAIR_WIFI_SEC_WPA2_WPA3:
		/* WPA-PSK, WPA-PSK-SHA256 and SAE allowed: the AP's offer decides. */
		p->security = WIFI_SECURITY_TYPE_WPA_AUTO_PERSONAL;
		p->mfp = WIFI_MFP_OPTIONAL;
		return 0;
	case ZPAIR_WIFI_SEC_WPA3_SAE:
		/* Hunting-and-pecking and hash-to-element both allowed; WPA3 requires PMF. */
		p->security = WIFI_SECURITY_TYPE_SAE_AUTO;
		p->mfp = WIFI_MFP_REQUIRED;
		return 0;
	default:
		return -ENOTSUP;
	}
}

static void fill_scan_entry(struct zpair_wifi_scan_entry *out, const struct wifi_scan_result *in)
{
	size_t ssid_len = MIN((size_t)in->ssid_length, sizeof(out->ssid));

	memcpy(out->ssid, in->ssid, ssid_len);
	out->ssid_len = (uint8_t)ssid_len;
	out->security = map_security_from_zephyr(in->security);
	out->zephyr_security = (uint8_t)in->security;
	out->channel = in->channel;
	out->rssi = in->rssi;
	out->band = in->band;
	if (in->mac_length == sizeof(out->bssid)) {
		memcpy(out->bssid, in->mac, sizeof(out->bssid));
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Station addresses                                                                            */
/* ------------------------------------------------------------------------------------------ */

struct find_ip {
	uint32_t skip;
	uint32_t found;
};

static void find_ip_cb(struct net_if *iface, struct net_if_addr *addr, void *user_data)
{
	struct find_ip *f = user_data;

	ARG_UNUSED(iface);
	if (f->found != 0 || addr->address.family != AF_INET) {
		return;
	}
	if (addr->address.in_addr.s_addr == f->skip ||
	    net_ipv4_is_ll_addr(&addr->address.in_addr)) {
		return;
	}
	f->found = addr->address.in_addr.s_addr;
}

/* The station's IPv4 address (network order), 0 if none. The access point's own address is
 * ignored when both share an interface.
 */
static uint32_t sta_address(void)
{
	struct find_ip f = {0};

#if defined(CONFIG_ZPAIR_SOFTAP)
	/* Also after the AP stopped: TCP connections that still close keep the address alive. */
	if (w.ap == w.sta) {
		f.skip = w.ap_addr.s_addr;
	}
#endif
	net_if_ipv4_addr_foreach(w.sta, find_ip_cb, &f);
	return f.found;
}

static void sta_got_ip(uint32_t ip)
{
	w.sta_state = STA_CONNECTED;
	w.sta_ip = ip;
	k_work_cancel_delayable(&w.sta_timer);
	LOG_INF("wifi: station up");
	emit_simple(ZPAIR_WIFI_EVT_CONNECTED, ZPAIR_ERR_NONE, 0, ip);
}

static void sta_fail(uint8_t error, int32_t status)
{
	w.sta_state = STA_FAILED;
	w.sta_ip = 0;
	k_work_cancel_delayable(&w.sta_timer);
	LOG_WRN("wifi: connect failed (error 0x%02x, status %d)", error, status);
	emit_simple(ZPAIR_WIFI_EVT_CONNECT_FAILED, error, status, 0);
}

static void dhcp_client_start(void)
{
#if defined(CONFIG_NET_DHCPV4)
	if (!net_if_is_offloaded(w.sta)) {
		net_dhcpv4_start(w.sta);
	}
#endif
}

static void dhcp_client_stop(void)
{
#if defined(CONFIG_NET_DHCPV4)
	if (!net_if_is_offloaded(w.sta)) {
		net_dhcpv4_stop(w.sta);
	}
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Timers (system work queue)                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void sta_timer_fn(struct k_work *work)
{
	ARG_UNUSED(work);

	k_mutex_lock(&wifi_lock, K_FOREVER);
	if (w.sta_state == STA_CONNECTING) {
		/* The driver never answered: give up (the caller disconnects). */
		sta_fail(ZPAIR_ERR_ASSOCIATION_FAILED, -ETIMEDOUT);
	} else if (w.sta_state == STA_WAIT_IP) {
		sta_fail(ZPAIR_ERR_DHCP_TIMEOUT, -ETIMEDOUT);
	}
	k_mutex_unlock(&wifi_lock);
}

static void scan_timer_fn(struct k_work *work)
{
	ARG_UNUSED(work);

	k_mutex_lock(&wifi_lock, K_FOREVER);
	if (w.scanning) {
		w.scanning = false;
		LOG_WRN("wifi: scan did not finish in time");
		emit_simple(ZPAIR_WIFI_EVT_SCAN_DONE, ZPAIR_ERR_NONE, -ETIMEDOUT, 0);
	}
	k_mutex_unlock(&wifi_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* net_mgmt events (net_mgmt event thread)                                                      */
/* ------------------------------------------------------------------------------------------ */

static int event_status(struct net_mgmt_event_callback *cb)
{
	const struct wifi_status *st = cb->info;

	if (st == NULL || cb->info_length < sizeof(*st)) {
		return -EIO;
	}
	return st->status;
}

static void on_connect_result(int status)
{
	if (w.sta_state != STA_CONNECTING) {
		return;
	}
	if (status != WIFI_STATUS_CONN_SUCCESS) {
		sta_fail(map_conn_status(status), status);
		return;
	}

	uint32_t ip;

	w.sta_state = STA_WAIT_IP;
	LOG_INF("wifi: associated, waiting for an address");
	emit_simple(ZPAIR_WIFI_EVT_ASSOCIATED, ZPAIR_ERR_NONE, 0, 0);
	if (w.sta_state != STA_WAIT_IP) {
		return; /* the callback disconnected */
	}
	dhcp_client_start();
	ip = sta_address();
	if (ip != 0) {
		sta_got_ip(ip);
	} else {
		k_work_reschedule(&w.sta_timer, K_SECONDS(CONFIG_ZPAIR_WIFI_DHCP_TIMEOUT_S));
	}
}

static void on_disconnect_result(int status)
{
	switch (w.sta_state) {
	case STA_WAIT_IP:
		/* Dropped right after associating. */
		sta_fail(ZPAIR_ERR_ASSOCIATION_FAILED, status);
		break;
	case STA_CONNECTED:
		w.sta_state = STA_FAILED;
		w.sta_ip = 0;
		LOG_WRN("wifi: link lost (%d)", status);
		emit_simple(ZPAIR_WIFI_EVT_DISCONNECTED, ZPAIR_ERR_LINK_LOST, status, 0);
		break;
	default:
		/* CONNECTING: a supplicant leaving the previous network reports a disconnect
		 * before it joins the new one; real failures come as connect results or the
		 * connect timeout. IDLE/FAILED: nothing to report.
		 */
		break;
	}
}

#if defined(CONFIG_ZPAIR_SOFTAP)
static void ap_ip_down(void);
#endif

static void wifi_mgmt_handler(struct net_mgmt_event_callback *cb, uint64_t event,
			      struct net_if *iface)
{
	k_mutex_lock(&wifi_lock, K_FOREVER);

	switch (event) {
	case NET_EVENT_WIFI_SCAN_RESULT: {
		const struct wifi_scan_result *res = cb->info;
		struct zpair_wifi_event evt = {.kind = ZPAIR_WIFI_EVT_SCAN_RESULT};

		if (!w.scanning || iface != w.sta || res == NULL ||
		    cb->info_length < sizeof(*res)) {
			break;
		}
		fill_scan_entry(&evt.scan, res);
		emit(&evt);
		break;
	}
	case NET_EVENT_WIFI_SCAN_DONE:
		if (w.scanning && iface == w.sta) {
			w.scanning = false;
			k_work_cancel_delayable(&w.scan_timer);
			emit_simple(ZPAIR_WIFI_EVT_SCAN_DONE, ZPAIR_ERR_NONE, event_status(cb), 0);
		}
		break;
	case NET_EVENT_WIFI_CONNECT_RESULT:
		if (iface == w.sta) {
			on_connect_result(event_status(cb));
		}
		break;
	case NET_EVENT_WIFI_DISCONNECT_RESULT:
		if (iface == w.sta) {
			on_disconnect_result(event_status(cb));
		}
		break;
#if defined(CONFIG_ZPAIR_SOFTAP)
	case NET_EVENT_WIFI_AP_ENABLE_RESULT: {
		int status = event_status(cb);

		if (iface == w.ap && w.ap_up && status != WIFI_STATUS_AP_SUCCESS) {
			LOG_ERR("wifi: access point failed (%d)", status);
			/* The driver already gave the AP up: release our side only. */
			ap_ip_down();
			w.ap_up = false;
			emit_simple(ZPAIR_WIFI_EVT_AP_STOPPED, ZPAIR_ERR_INTERNAL, status, 0);
		}
		break;
	}
	case NET_EVENT_WIFI_AP_STA_CONNECTED:
	case NET_EVENT_WIFI_AP_STA_DISCONNECTED: {
		const struct wifi_ap_sta_info *sta = cb->info;
		struct zpair_wifi_event evt = {
			.kind = event == NET_EVENT_WIFI_AP_STA_CONNECTED
					? ZPAIR_WIFI_EVT_AP_STA_JOINED
					: ZPAIR_WIFI_EVT_AP_STA_LEFT,
		};

		if (iface != w.ap || !w.ap_up) {
			break;
		}
		if (sta != NULL && cb->info_length >= sizeof(*sta) &&
		    sta->mac_length == sizeof(evt.scan.bssid)) {
			memcpy(evt.scan.bssid, sta->mac, sizeof(evt.scan.bssid));
		}
		emit(&evt);
		break;
	}
#endif
	default:
		break;
	}

	k_mutex_unlock(&wifi_lock);
}

static void ipv4_handler(struct net_mgmt_event_callback *cb, uint64_t event,
			 struct net_if *iface)
{
	k_mutex_lock(&wifi_lock, K_FOREVER);

	if (iface != w.sta) {
		goto out;
	}

	if (event == NET_EVENT_IPV4_ADDR_DEL) {
		const struct in_addr *gone = cb->info;

		if (w.sta_state == STA_CONNECTED && gone != NULL &&
		    cb->info_length >= sizeof(*gone) && gone->s_addr == w.sta_ip) {
			uint32_t other = sta_address();

			if (other != 0) {
				w.sta_ip = other;
			} else {
				w.sta_state = STA_FAILED;
				w.sta_ip = 0;
				LOG_WRN("wifi: address lost");
				emit_simple(ZPAIR_WIFI_EVT_DISCONNECTED, ZPAIR_ERR_LINK_LOST,
					    -EADDRNOTAVAIL, 0);
			}
		}
		goto out;
	}

	/* ADDR_ADD or DHCP_BOUND */
	if (w.sta_state == STA_WAIT_IP) {
		uint32_t ip = sta_address();

		if (ip != 0) {
			sta_got_ip(ip);
		}
	}
out:
	k_mutex_unlock(&wifi_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* Setup                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Called with the lock held. */
static int ensure_ready(void)
{
	if (w.ready) {
		return 0;
	}

	w.sta = net_if_get_wifi_sta();
	w.ap = net_if_get_wifi_sap();
	if (w.sta == NULL) {
		LOG_ERR("wifi: no Wi-Fi interface");
		return -ENODEV;
	}
	if (w.ap == NULL) {
		w.ap = w.sta;
	}

	k_work_init_delayable(&w.sta_timer, sta_timer_fn);
	k_work_init_delayable(&w.scan_timer, scan_timer_fn);
#if defined(CONFIG_ZPAIR_SOFTAP)
	for (size_t i = 0; i < ARRAY_SIZE(w.fds); i++) {
		w.fds[i].fd = -1;
	}
#endif

	net_mgmt_init_event_callback(&w.wifi_mgmt_cb, wifi_mgmt_handler, WIFI_EVENTS);
	net_mgmt_add_event_callback(&w.wifi_mgmt_cb);
	net_mgmt_init_event_callback(&w.ipv4_cb, ipv4_handler, IPV4_EVENTS);
	net_mgmt_add_event_callback(&w.ipv4_cb);

	w.ready = true;
	LOG_DBG("wifi: sta iface %d, ap iface %d", net_if_get_by_iface(w.sta),
		net_if_get_by_iface(w.ap));
	return 0;
}

int zpair_wifi_set_callback(zpair_wifi_cb_t cb, void *user)
{
	int ret;

	k_mutex_lock(&wifi_lock, K_FOREVER);
	ret = ensure_ready();
	w.cb = cb;
	w.user = user;
	k_mutex_unlock(&wifi_lock);
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* Station                                                                                     */
/* ------------------------------------------------------------------------------------------ */

int zpair_wifi_scan_start(const uint8_t *ssid, size_t ssid_len)
{
	struct wifi_scan_params params = {0};
	char ssid_z[WIFI_SSID_MAX_LEN + 1];
	int ret;

	if (ssid_len > WIFI_SSID_MAX_LEN || (ssid_len > 0 && ssid == NULL)) {
		return -EINVAL;
	}

	k_mutex_lock(&wifi_lock, K_FOREVER);
	ret = ensure_ready();
	if (ret != 0) {
		goto out;
	}
	if (w.scanning) {
		ret = -EBUSY;
		goto out;
	}
	if (ssid_len > 0) {
		memcpy(ssid_z, ssid, ssid_len);
		ssid_z[ssid_len] = '\0';
		params.ssids[0] = ssid_z;
	}

	/* Results may arrive during the request (direct event delivery). */
	w.scanning = true;
	ret = net_mgmt(NET_REQUEST_WIFI_SCAN, w.sta, &params, sizeof(params));
	if (ret != 0) {
		w.scanning = false;
		LOG_ERR("wifi: scan request failed (%d)", ret);
		goto out;
	}
	if (w.scanning) {
		k_work_reschedule(&w.scan_timer, K_SECONDS(CONFIG_ZPAIR_WIFI_SCAN_TIMEOUT_S));
	}
	LOG_DBG("wifi: scanning%s", ssid_len > 0 ? " for a hidden SSID" : "");
out:
	k_mutex_unlock(&wifi_lock);
	return ret;
}

static void sta_reset_radio(void)
{
	(void)net_mgmt(NET_REQUEST_WIFI_DISCONNECT, w.sta, NULL, 0);
	dhcp_client_stop();
}

int zpair_wifi_sta_connect(const struct zpair_wifi_connect_params *cp)
{
	struct wifi_connect_req_params p = {0};
	int ret;

	if (cp == NULL || cp->ssid == NULL || cp->ssid_len == 0 ||
	    cp->ssid_len > WIFI_SSID_MAX_LEN) {
		return -EINVAL;
	}
	if (map_security_to_zephyr(cp->security, &p) != 0) {
		return -ENOTSUP;
	}
	if (cp->security == ZPAIR_WIFI_SEC_OPEN) {
		if (cp->psk_len != 0) {
			return -EINVAL;
		}
	} else if (cp->psk == NULL || cp->psk_len < WIFI_PSK_MIN_LEN ||
		   cp->psk_len > WIFI_PSK_MAX_LEN) {
		return -EINVAL;
	}

	p.ssid = cp->ssid;
	p.ssid_length = cp->ssid_len;
	if (cp->security != ZPAIR_WIFI_SEC_OPEN) {
		p.psk = cp->psk;
		p.psk_length = cp->psk_len;
	}
	if (cp->channel == 0) {
		p.channel = WIFI_CHANNEL_ANY;
		p.band = WIFI_FREQ_BAND_UNKNOWN;
	} else {
		p.channel = cp->channel;
		p.band = cp->channel <= 14 ? WIFI_FREQ_BAND_2_4_GHZ : WIFI_FREQ_BAND_5_GHZ;
	}
	if (cp->bssid != NULL) {
		memcpy(p.bssid, cp->bssid, sizeof(p.bssid));
	}
	p.timeout = CONFIG_ZPAIR_WIFI_CONNECT_TIMEOUT_S;
	p.bandwidth = WIFI_FREQ_BANDWIDTH_20MHZ;

	k_mutex_lock(&wifi_lock, K_FOREVER);
	ret = ensure_ready();
	if (ret != 0) {
		goto out;
	}
	if (w.sta_state == STA_CONNECTING || w.sta_state == STA_WAIT_IP ||
	    w.sta_state == STA_CONNECTED) {
		ret = -EALREADY;
		goto out;
	}
#if defined(CONFIG_ZPAIR_SOFTAP)
	if (w.ap_up && w.ap == w.sta) {
		ret = -EBUSY;
		goto out;
	}
#endif
	if (w.sta_state == STA_FAILED) {
		sta_reset_radio();
		w.sta_state = STA_IDLE;
	}

	/* The passphrase is never logged, only its length. */
	LOG_INF("wifi: connecting (ssid %u bytes, security %u, psk %u bytes, channel %u%s%s)",
		cp->ssid_len, cp->security, cp->psk_len, cp->channel,
		cp->bssid != NULL ? ", bssid locked" : "", cp->hidden ? ", hidden" : "");

	w.sta_state = STA_CONNECTING;
	w.sta_ip = 0;
	k_work_reschedule(&w.sta_timer,
			  K_SECONDS(CONFIG_ZPAIR_WIFI_CONNECT_TIMEOUT_S + CONNECT_SLACK_S));
	ret = net_mgmt(NET_REQUEST_WIFI_CONNECT, w.sta, &p, sizeof(p));
	if (ret != 0) {
		LOG_ERR("wifi: connect request failed (%d)", ret);
		if (w.sta_state == STA_CONNECTING) {
			w.sta_state = STA_IDLE;
			k_work_cancel_delayable(&w.sta_timer);
		}
	}
out:
	k_mutex_unlock(&wifi_lock);
	return ret;
}

int zpair_wifi_sta_disconnect(void)
{
	int ret;

	k_mutex_lock(&wifi_lock, K_FOREVER);
	ret = ensure_ready();
	if (ret != 0) {
		goto out;
	}
	if (w.sta_state != STA_IDLE) {
		bool was_connected = w.sta_state == STA_CONNECTED;

		k_work_cancel_delayable(&w.sta_timer);
		w.sta_state = STA_IDLE;
		w.sta_ip = 0;
		sta_reset_radio();
		LOG_INF("wifi: disconnected");
		if (was_connected) {
			emit_simple(ZPAIR_WIFI_EVT_DISCONNECTED, ZPAIR_ERR_NONE, 0, 0);
		}
	}
out:
	k_mutex_unlock(&wifi_lock);
	return ret;
}

int zpair_wifi_sta_status(uint32_t *ip4)
{
	int ret = -ENETDOWN;

	k_mutex_lock(&wifi_lock, K_FOREVER);
	if (w.ready && w.sta_state == STA_CONNECTED) {
		if (ip4 != NULL) {
			*ip4 = w.sta_ip;
		}
		ret = 0;
	}
	k_mutex_unlock(&wifi_lock);
	return ret;
}

/* ------------------------------------------------------------------------------------------ */
/* SoftAP                                                                                      */
/* ------------------------------------------------------------------------------------------ */

#if defined(CONFIG_ZPAIR_SOFTAP)

BUILD_ASSERT(sizeof(CONFIG_ZPAIR_SOFTAP_SSID_PREFIX) - 1 <= WIFI_SSID_MAX_LEN - 4,
	     "CONFIG_ZPAIR_SOFTAP_SSID_PREFIX: at most 28 bytes");

int zpair_wifi_ap_ssid(uint64_t device_id, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	const size_t prefix_len = sizeof(CONFIG_ZPAIR_SOFTAP_SSID_PREFIX) - 1;
	const size_t len = prefix_len + 4;

	if (buf == NULL || cap < len + 1) {
		return -ENOSPC;
	}
	memcpy(buf, CONFIG_ZPAIR_SOFTAP_SSID_PREFIX, prefix_len);
	for (size_t i = 0; i < 4; i++) {
		buf[prefix_len + i] = hex[(device_id >> (12 - 4 * i)) & 0xf];
	}
	buf[len] = '\0';
	return (int)len;
}

static void tcp_service_handler(struct net_socket_service_event *pev);

NET_SOCKET_SERVICE_SYNC_DEFINE_STATIC(zpair_softap_svc, tcp_service_handler, TCP_FDS);

static int tcp_register(void)
{
	int ret = net_socket_service_register(&zpair_softap_svc, w.fds, ARRAY_SIZE(w.fds), NULL);

	if (ret < 0) {
		LOG_ERR("wifi: socket service registration failed (%d)", ret);
	}
	return ret;
}

static int tcp_slot_of_conn(uint32_t conn)
{
	if (conn == 0) {
		return -1;
	}
	for (int i = 1; i < TCP_FDS; i++) {
		if (w.fds[i].fd >= 0 && w.conn_ids[i] == conn) {
			return i;
		}
	}
	return -1;
}

/*
 * Before closing sockets the socket-service thread may be polling (lock held): the
 * (re)registration that dropped them wakes that thread, which leaves its poll and polls again
 * without them; give it that moment when the close comes from another thread. Zephyr's own
 * sockets tolerate a close during a poll, native_sim's offloaded host sockets (NSOS) do not
 * (the host fd leaves the epoll set with the close and the poll's cleanup aborts the program):
 * only those builds wait.
 */
static void tcp_unpolled(void)
{
#if defined(CONFIG_NET_NATIVE_OFFLOADED_SOCKETS)
	if (!w.in_handler) {
		k_msleep(2);
	}
#endif
}

/* Drops slot i (lock held). */
static void tcp_drop(int i)
{
	int fd = w.fds[i].fd;

	w.fds[i].fd = -1;
	w.conn_ids[i] = 0;
	(void)tcp_register();
	tcp_unpolled();
	(void)zsock_close(fd);
}

static void tcp_accept(void)
{
	struct sockaddr_in peer = {0};
	socklen_t peer_len = sizeof(peer);
	int fd = zsock_accept(w.fds[0].fd, (struct sockaddr *)&peer, &peer_len);
	struct zpair_wifi_event evt = {.kind = ZPAIR_WIFI_EVT_TCP_ACCEPTED};

	if (fd < 0) {
		LOG_WRN("wifi: accept failed (%d)", -errno);
		return;
	}
	for (int i = 1; i < TCP_FDS; i++) {
		if (w.fds[i].fd < 0) {
			w.next_conn++;
			if (w.next_conn == 0) {
				w.next_conn = 1;
			}
			w.fds[i].fd = fd;
			w.fds[i].events = ZSOCK_POLLIN;
			w.fds[i].revents = 0;
			w.conn_ids[i] = w.next_conn;
			(void)tcp_register();
			evt.conn = w.next_conn;
			evt.ip4 = peer.sin_family == AF_INET ? peer.sin_addr.s_addr : 0;
			LOG_INF("wifi: app connected (conn %u)", evt.conn);
			emit(&evt);
			return;
		}
	}
	LOG_WRN("wifi: too many pairing connections, refusing one");
	(void)zsock_close(fd);
}

static void tcp_service_handler(struct net_socket_service_event *pev)
{
	static uint8_t buf[ZPAIR_WIFI_TCP_CHUNK];
	int fd = pev->event.fd;

	k_mutex_lock(&wifi_lock, K_FOREVER);
	w.in_handler = true;

	if (!w.ap_up || fd < 0) {
		goto out;
	}
	if (fd == w.fds[0].fd) {
		tcp_accept();
		goto out;
	}
	for (int i = 1; i < TCP_FDS; i++) {
		if (w.fds[i].fd != fd) {
			continue;
		}

		ssize_t n = zsock_recv(fd, buf, sizeof(buf), ZSOCK_MSG_DONTWAIT);
		struct zpair_wifi_event evt = {.conn = w.conn_ids[i]};

		if (n > 0) {
			evt.kind = ZPAIR_WIFI_EVT_TCP_DATA;
			evt.data = buf;
			evt.len = (uint16_t)n;
			emit(&evt);
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* spurious wake-up */
		} else {
			evt.kind = ZPAIR_WIFI_EVT_TCP_CLOSED;
			evt.status = n == 0 ? 0 : -errno;
			LOG_INF("wifi: app disconnected (conn %u, %d)", evt.conn, evt.status);
			tcp_drop(i);
			emit(&evt);
		}
		break;
	}
out:
	w.in_handler = false;
	k_mutex_unlock(&wifi_lock);
}

static int tcp_listen(const struct in_addr *bind_addr)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(CONFIG_ZPAIR_SOFTAP_PORT),
		.sin_addr = *bind_addr,
	};
	int one = 1;
	int fd = zsock_socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	int ret;

	if (fd < 0) {
		return -errno;
	}
	(void)zsock_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (zsock_bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    zsock_listen(fd, ZPAIR_WIFI_TCP_MAX_CONN) < 0) {
		ret = -errno;
		(void)zsock_close(fd);
		return ret;
	}
	for (size_t i = 0; i < ARRAY_SIZE(w.fds); i++) {
		w.fds[i].fd = -1;
		w.conn_ids[i] = 0;
	}
	w.fds[0].fd = fd;
	w.fds[0].events = ZSOCK_POLLIN;
	ret = tcp_register();
	if (ret < 0) {
		w.fds[0].fd = -1;
		(void)zsock_close(fd);
	}
	return ret;
}

/* Closes the connections and the listener (lock held). */
static void tcp_close_all(void)
{
	int fds[TCP_FDS];

	for (size_t i = 0; i < ARRAY_SIZE(w.fds); i++) {
		fds[i] = w.fds[i].fd;
		w.fds[i].fd = -1;
		w.conn_ids[i] = 0;
	}
	(void)net_socket_service_unregister(&zpair_softap_svc);
	tcp_unpolled();
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		if (fds[i] >= 0) {
			(void)zsock_close(fds[i]);
		}
	}
}

static bool native_ip(struct net_if *iface)
{
	return !net_if_is_offloaded(iface) && !net_if_is_socket_offloaded(iface);
}

/* Undoes ap_start's IP side: listener, DHCPv4 server, address (lock held). */
static void ap_ip_down(void)
{
	tcp_close_all();
#if defined(CONFIG_NET_DHCPV4_SERVER)
	if (w.dhcp_server) {
		(void)net_dhcpv4_server_stop(w.ap);
		w.dhcp_server = false;
	}
#endif
	if (w.ap_addr_added) {
		(void)net_if_ipv4_addr_rm(w.ap, &w.ap_addr);
		w.ap_addr_added = false;
	}
}

/* Everything down (lock held). */
static void ap_teardown(void)
{
	ap_ip_down();
	(void)net_mgmt(NET_REQUEST_WIFI_AP_DISABLE, w.ap, NULL, 0);
	w.ap_up = false;
}

int zpair_wifi_ap_start(uint64_t device_id)
{
	struct wifi_connect_req_params p = {0};
	struct in_addr netmask;
	struct in_addr bind_addr = {.s_addr = INADDR_ANY};
	char ssid[WIFI_SSID_MAX_LEN + 1];
	int ssid_len;
	int ret;

	ssid_len = zpair_wifi_ap_ssid(device_id, ssid, sizeof(ssid));
	if (ssid_len < 0) {
		return ssid_len;
	}

	k_mutex_lock(&wifi_lock, K_FOREVER);
	ret = ensure_ready();
	if (ret != 0) {
		goto out;
	}
	if (w.ap_up) {
		ret = -EALREADY;
		goto out;
	}
	if (w.ap == w.sta && w.sta_state != STA_IDLE) {
		if (w.sta_state != STA_FAILED) {
			ret = -EBUSY;
			goto out;
		}
		sta_reset_radio();
		w.sta_state = STA_IDLE;
	}
	if (net_addr_pton(AF_INET, CONFIG_ZPAIR_SOFTAP_IPV4_ADDR, &w.ap_addr) < 0 ||
	    net_addr_pton(AF_INET, CONFIG_ZPAIR_SOFTAP_IPV4_NETMASK, &netmask) < 0) {
		LOG_ERR("wifi: bad CONFIG_ZPAIR_SOFTAP_IPV4_ADDR/NETMASK");
		ret = -EINVAL;
		goto out;
	}

	/* The AP's address and the DHCPv4 server are ours only with a native IP stack;
	 * offloaded drivers run both inside the module.
	 */
	if (native_ip(w.ap)) {
		if (net_if_ipv4_addr_add(w.ap, &w.ap_addr, NET_ADDR_MANUAL, 0) == NULL) {
			LOG_ERR("wifi: cannot add the access point's address");
			ret = -ENOMEM;
			goto out;
		}
		w.ap_addr_added = true;
		(void)net_if_ipv4_set_netmask_by_addr(w.ap, &w.ap_addr, &netmask);
		bind_addr = w.ap_addr;
	}

	p.ssid = (const uint8_t *)ssid;
	p.ssid_length = (uint8_t)ssid_len;
	p.security = WIFI_SECURITY_TYPE_NONE;
	p.channel = CONFIG_ZPAIR_SOFTAP_CHANNEL;
	p.band = CONFIG_ZPAIR_SOFTAP_CHANNEL <= 14 ? WIFI_FREQ_BAND_2_4_GHZ : WIFI_FREQ_BAND_5_GHZ;
	p.mfp = WIFI_MFP_DISABLE;
	p.bandwidth = WIFI_FREQ_BANDWIDTH_20MHZ;
	p.timeout = SYS_FOREVER_MS;

	/* Set before the request: a driver may report the result synchronously. */
	w.ap_up = true;
	ret = net_mgmt(NET_REQUEST_WIFI_AP_ENABLE, w.ap, &p, sizeof(p));
	if (ret != 0) {
		LOG_ERR("wifi: access point enable failed (%d)", ret);
		w.ap_up = false;
		ap_ip_down();
		goto out;
	}
	if (!w.ap_up) {
		/* The driver reported a failure during the request (AP_STOPPED was sent). */
		ret = -EIO;
		goto out;
	}

#if defined(CONFIG_NET_DHCPV4_SERVER)
	if (native_ip(w.ap)) {
		struct in_addr base = w.ap_addr;

		base.s4_addr[3]++;
		ret = net_dhcpv4_server_start(w.ap, &base);
		if (ret != 0 && ret != -EALREADY) {
			LOG_ERR("wifi: DHCPv4 server failed (%d)", ret);
			ap_teardown();
			goto out;
		}
		w.dhcp_server = ret == 0;
	}
#endif

	ret = tcp_listen(&bind_addr);
	if (ret != 0) {
		LOG_ERR("wifi: pairing listener failed (%d)", ret);
		ap_teardown();
		goto out;
	}

	LOG_INF("wifi: access point %s up on channel %d, pairing on port %d", ssid,
		CONFIG_ZPAIR_SOFTAP_CHANNEL, CONFIG_ZPAIR_SOFTAP_PORT);
	{
		struct zpair_wifi_event evt = {
			.kind = ZPAIR_WIFI_EVT_AP_STARTED,
			.ip4 = native_ip(w.ap) ? w.ap_addr.s_addr : 0,
		};

		memcpy(evt.scan.ssid, ssid, ssid_len);
		evt.scan.ssid_len = (uint8_t)ssid_len;
		evt.scan.channel = CONFIG_ZPAIR_SOFTAP_CHANNEL;
		evt.scan.security = ZPAIR_WIFI_SEC_OPEN;
		emit(&evt);
	}
out:
	k_mutex_unlock(&wifi_lock);
	return ret;
}

int zpair_wifi_ap_stop(void)
{
	k_mutex_lock(&wifi_lock, K_FOREVER);
	if (w.ready && w.ap_up) {
		ap_teardown();
		LOG_INF("wifi: access point down");
		emit_simple(ZPAIR_WIFI_EVT_AP_STOPPED, ZPAIR_ERR_NONE, 0, 0);
	}
	k_mutex_unlock(&wifi_lock);
	return 0;
}

int zpair_wifi_tcp_send(uint32_t conn, const uint8_t *data, size_t len)
{
	int fd = -1;
	int i;

	if (len > 0 && data == NULL) {
		return -EINVAL;
	}

	k_mutex_lock(&wifi_lock, K_FOREVER);
	i = w.ready ? tcp_slot_of_conn(conn) : -1;
	if (i > 0) {
		fd = w.fds[i].fd;
	}
	k_mutex_unlock(&wifi_lock);
	if (fd < 0) {
		return -ENOTCONN;
	}

	/* Without the lock: a full TCP window must not hold up the event handlers. */
	while (len > 0) {
		ssize_t n = zsock_send(fd, data, len, 0);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int zpair_wifi_tcp_close(uint32_t conn)
{
	int ret = -ENOTCONN;
	int i;

	k_mutex_lock(&wifi_lock, K_FOREVER);
	i = w.ready ? tcp_slot_of_conn(conn) : -1;
	if (i > 0) {
		LOG_DBG("wifi: closing conn %u", conn);
		tcp_drop(i);
		ret = 0;
	}
	k_mutex_unlock(&wifi_lock);
	return ret;
}

#endif /* CONFIG_ZPAIR_SOFTAP */
