/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The fake Wi-Fi driver, in the style of zephyr/tests/net/wifi/wifi_nm: an Ethernet-L2 device
 * with L2_ETH_IF_TYPE_WIFI whose API is a struct net_wifi_mgmt_offload. Frames it is asked to
 * send (the DHCPv4 client's discovers) are dropped: no DHCP server answers, so a lease only
 * appears when the test adds the address, and the DHCP timeout is real.
 */
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/net/ethernet.h>
#include <zephyr/net/net_pkt.h>
#include <zephyr/random/random.h>

#include "fake_wifi.h"

struct fake_script fake_script;
struct fake_record fake_record;
const char *fake_expected_psk;

struct fake_ctx {
	struct net_if *iface;
	uint8_t mac[6];
};

static struct fake_ctx fake_ctx;
static scan_result_cb_t scan_cb;

static void scan_work_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	for (int i = 0; i < fake_script.n_results; i++) {
		scan_cb(fake_ctx.iface, 0, &fake_script.results[i]);
	}
	if (fake_script.scan_status != FAKE_SILENT) {
		scan_cb(fake_ctx.iface, fake_script.scan_status, NULL);
	}
}

static void connect_work_fn(struct k_work *work)
{
	ARG_UNUSED(work);
	if (fake_script.connect_status != FAKE_SILENT) {
		wifi_mgmt_raise_connect_result_event(fake_ctx.iface, fake_script.connect_status);
	}
}

static K_WORK_DEFINE(scan_work, scan_work_fn);
static K_WORK_DEFINE(connect_work, connect_work_fn);

void fake_reset(void)
{
	memset(&fake_script, 0, sizeof(fake_script));
	memset(&fake_record, 0, sizeof(fake_record));
	fake_expected_psk = NULL;
}

struct net_if *fake_iface(void)
{
	return fake_ctx.iface;
}

static int fake_scan(const struct device *dev, struct wifi_scan_params *params,
		     scan_result_cb_t cb)
{
	ARG_UNUSED(dev);
	fake_record.scan_calls++;
	fake_record.scan_ssid[0] = '\0';
	if (params != NULL && params->ssids[0] != NULL) {
		strncpy(fake_record.scan_ssid, params->ssids[0], WIFI_SSID_MAX_LEN);
		fake_record.scan_ssid[WIFI_SSID_MAX_LEN] = '\0';
	}
	if (fake_script.scan_ret != 0) {
		return fake_script.scan_ret;
	}
	scan_cb = cb;
	k_work_submit(&scan_work);
	return 0;
}

static int fake_connect(const struct device *dev, struct wifi_connect_req_params *p)
{
	ARG_UNUSED(dev);
	fake_record.connect_calls++;
	fake_record.ssid_len = p->ssid_length;
	memcpy(fake_record.ssid, p->ssid, MIN(p->ssid_length, sizeof(fake_record.ssid)));
	fake_record.psk_len = p->psk_length;
	fake_record.psk_matches =
		fake_expected_psk != NULL && p->psk != NULL &&
		strlen(fake_expected_psk) == p->psk_length &&
		memcmp(fake_expected_psk, p->psk, p->psk_length) == 0;
	fake_record.security = p->security;
	fake_record.mfp = p->mfp;
	fake_record.channel = p->channel;
	fake_record.band = p->band;
	memcpy(fake_record.bssid, p->bssid, sizeof(fake_record.bssid));
	fake_record.timeout = p->timeout;
	if (fake_script.connect_ret != 0) {
		return fake_script.connect_ret;
	}
	k_work_submit(&connect_work);
	return 0;
}

static int fake_disconnect(const struct device *dev)
{
	ARG_UNUSED(dev);
	fake_record.disconnect_calls++;
	return 0;
}

static int fake_ap_enable(const struct device *dev, struct wifi_connect_req_params *p)
{
	ARG_UNUSED(dev);
	fake_record.ap_enable_calls++;
	memcpy(fake_record.ap_ssid, p->ssid, MIN(p->ssid_length, WIFI_SSID_MAX_LEN));
	fake_record.ap_ssid[MIN(p->ssid_length, WIFI_SSID_MAX_LEN)] = '\0';
	fake_record.ap_channel = p->channel;
	fake_record.ap_security = p->security;
	return fake_script.ap_enable_ret;
}

static int fake_ap_disable(const struct device *dev)
{
	ARG_UNUSED(dev);
	fake_record.ap_disable_calls++;
	return 0;
}

static const struct wifi_mgmt_ops fake_mgmt_ops = {
	.scan = fake_scan,
	.connect = fake_connect,
	.disconnect = fake_disconnect,
	.ap_enable = fake_ap_enable,
	.ap_disable = fake_ap_disable,
};

static void fake_iface_init(struct net_if *iface)
{
	const struct device *dev = net_if_get_device(iface);
	struct fake_ctx *ctx = dev->data;
	struct ethernet_context *eth_ctx = net_if_l2_data(iface);

	ctx->iface = iface;
	net_if_set_link_addr(iface, ctx->mac, sizeof(ctx->mac), NET_LINK_ETHERNET);
	eth_ctx->eth_if_type = L2_ETH_IF_TYPE_WIFI;
	ethernet_init(iface);
}

static int fake_send(const struct device *dev, struct net_pkt *pkt)
{
	ARG_UNUSED(dev);
	ARG_UNUSED(pkt);
	/* The air is empty: nothing answers. */
	return 0;
}

static enum ethernet_hw_caps fake_caps(const struct device *dev)
{
	ARG_UNUSED(dev);
	return 0;
}

static const struct net_wifi_mgmt_offload fake_api = {
	.wifi_iface.iface_api.init = fake_iface_init,
	.wifi_iface.get_capabilities = fake_caps,
	.wifi_iface.send = fake_send,
	.wifi_mgmt_api = &fake_mgmt_ops,
};

static int fake_init(const struct device *dev)
{
	struct fake_ctx *ctx = dev->data;

	/* 00-00-5E-00-53-xx: documentation range (RFC 7042). */
	ctx->mac[0] = 0x00;
	ctx->mac[1] = 0x00;
	ctx->mac[2] = 0x5e;
	ctx->mac[3] = 0x00;
	ctx->mac[4] = 0x53;
	ctx->mac[5] = 0x01;
	return 0;
}

ETH_NET_DEVICE_INIT(fake_wlan0, "fake_wifi", fake_init, NULL, &fake_ctx, NULL,
		    CONFIG_ETH_INIT_PRIORITY, &fake_api, NET_ETH_MTU);
