/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Cellular backend: powers the `modem` devicetree alias up and down (device PM), brings its
 * network interface (PPP with modem_cellular) up, and reports the attach outcome with zpair's
 * errors: attached(ip), registration denied, SIM missing, modem failure, attach timeout.
 * See zpair/shim_backends.h for the contract.
 *
 * Classification when CONFIG_ZPAIR_CELLULAR_ATTACH_TIMEOUT_S passes without a network:
 *   registration denied (by any access technology)  -> REGISTRATION_DENIED
 *   no IMEI: the modem never answered its init script -> MODEM_FAILURE
 *   IMEI but neither ICCID nor IMSI: no usable SIM    -> SIM_MISSING
 *   otherwise (searching, no coverage, PPP failing)   -> ATTACH_TIMEOUT
 * A denied registration is reported as soon as the driver announces it (cellular_set_callback).
 */
#include <errno.h>
#include <string.h>

#include <zephyr/device.h>
#include <zephyr/devicetree.h>
#include <zephyr/drivers/cellular.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/net/net_event.h>
#include <zephyr/net/net_if.h>
#include <zephyr/net/net_mgmt.h>
#include <zephyr/pm/device.h>
#include <zephyr/pm/device_runtime.h>
#if defined(CONFIG_NET_L2_PPP)
#include <zephyr/net/ppp.h>
#endif

#include <zpair/shim_backends.h>

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

#define MODEM_NODE DT_ALIAS(modem)

#define L4_EVENTS   (NET_EVENT_L4_CONNECTED | NET_EVENT_L4_DISCONNECTED)
#define IPV4_EVENTS (NET_EVENT_IPV4_ADDR_ADD | NET_EVENT_IPV4_ADDR_DEL)

enum cell_state {
	CELL_IDLE,
	/* Powered and waiting for the network, within the attach timeout. */
	CELL_ATTACHING,
	CELL_ATTACHED,
	/* ATTACH_FAILED or DETACHED(link lost) was reported; the modem keeps trying and a
	 * network that comes up later is still reported as ATTACHED.
	 */
	CELL_FAILED,
};

static const struct device *const modem = DEVICE_DT_GET(MODEM_NODE);

static K_MUTEX_DEFINE(cell_lock);

static struct {
	bool inited;
	zpair_cellular_cb_t cb;
	void *user;
	struct net_if *iface;
	enum cell_state state;
	uint32_t ip;
	struct net_mgmt_event_callback l4_cb;
	struct net_mgmt_event_callback ipv4_cb;
} c;

static void attach_timeout_fn(struct k_work *work);
static K_WORK_DELAYABLE_DEFINE(attach_timer, attach_timeout_fn);

static void emit(uint8_t kind, uint8_t error, int32_t status, uint32_t ip4)
{
	struct zpair_cellular_event evt = {
		.kind = kind,
		.error = error,
		.status = status,
		.ip4 = ip4,
	};

	if (c.cb != NULL) {
		c.cb(&evt, c.user);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Modem facts                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static bool modem_info(enum cellular_modem_info_type type, char *buf, size_t cap)
{
	memset(buf, 0, cap);
	if (cellular_get_modem_info(modem, type, buf, cap - 1) != 0) {
		buf[0] = '\0';
		return false;
	}
	buf[cap - 1] = '\0';
	return buf[0] != '\0';
}

static bool is_registered(enum cellular_registration_status s)
{
	return s == CELLULAR_REGISTRATION_REGISTERED_HOME ||
	       s == CELLULAR_REGISTRATION_REGISTERED_ROAMING;
}

/* The most telling registration status over GSM, UTRAN and E-UTRAN: registered beats denied
 * beats searching beats anything else; -1 when the driver reports none.
 */
static int best_registration(void)
{
	static const enum cellular_access_technology techs[] = {
		CELLULAR_ACCESS_TECHNOLOGY_E_UTRAN,
		CELLULAR_ACCESS_TECHNOLOGY_UTRAN,
		CELLULAR_ACCESS_TECHNOLOGY_GSM,
	};
	int best = -1;
	int rank = -1;

	for (size_t i = 0; i < ARRAY_SIZE(techs); i++) {
		enum cellular_registration_status s;
		int r;

		if (cellular_get_registration_status(modem, techs[i], &s) != 0) {
			continue;
		}
		r = is_registered(s) ? 3
		    : s == CELLULAR_REGISTRATION_DENIED   ? 2
		    : s == CELLULAR_REGISTRATION_SEARCHING ? 1
							    : 0;
		if (r > rank) {
			rank = r;
			best = (int)s;
		}
	}
	return best;
}

/* ------------------------------------------------------------------------------------------ */
/* Events                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct find_ip {
	uint32_t found;
};

static void find_ip_cb(struct net_if *iface, struct net_if_addr *addr, void *user_data)
{
	struct find_ip *f = user_data;

	ARG_UNUSED(iface);
	if (f->found == 0 && addr->address.family == AF_INET &&
	    !net_ipv4_is_ll_addr(&addr->address.in_addr)) {
		f->found = addr->address.in_addr.s_addr;
	}
}

static uint32_t iface_ip(void)
{
	struct find_ip f = {0};

	net_if_ipv4_addr_foreach(c.iface, find_ip_cb, &f);
	return f.found;
}

/* Lock held. */
static void network_up(void)
{
	if (c.state != CELL_ATTACHING && c.state != CELL_FAILED) {
		return;
	}
	c.state = CELL_ATTACHED;
	c.ip = iface_ip();
	k_work_cancel_delayable(&attach_timer);
	LOG_INF("cellular: attached");
	emit(ZPAIR_CELL_EVT_ATTACHED, ZPAIR_ERR_NONE, 0, c.ip);
}

/* Lock held. */
static void network_down(int32_t status)
{
	if (c.state != CELL_ATTACHED) {
		return;
	}
	c.state = CELL_FAILED;
	c.ip = 0;
	LOG_WRN("cellular: network lost (%d)", status);
	emit(ZPAIR_CELL_EVT_DETACHED, ZPAIR_ERR_LINK_LOST, status, 0);
}

static bool native_ip(void)
{
	return !net_if_is_offloaded(c.iface) && !net_if_is_socket_offloaded(c.iface);
}

/* With a native IP stack the interface itself is the truth: up with an IPv4 address. */
static bool link_ready(void)
{
	return net_if_is_up(c.iface) && iface_ip() != 0;
}

static void l4_handler(struct net_mgmt_event_callback *cb, uint64_t event, struct net_if *iface)
{
	ARG_UNUSED(cb);

	k_mutex_lock(&cell_lock, K_FOREVER);
	if (iface != c.iface) {
		goto out;
	}
	if (native_ip()) {
		/* The connection manager's events may trail the address events they follow
		 * from: re-read the interface instead of trusting their order.
		 */
		if (link_ready()) {
			network_up();
		} else {
			network_down(-ENETDOWN);
		}
	} else if (event == NET_EVENT_L4_CONNECTED) {
		/* Offloaded modems: the L4 event is the only signal. */
		network_up();
	} else {
		network_down(-ENETDOWN);
	}
out:
	k_mutex_unlock(&cell_lock);
}

static void ipv4_handler(struct net_mgmt_event_callback *cb, uint64_t event,
			 struct net_if *iface)
{
	k_mutex_lock(&cell_lock, K_FOREVER);
	if (iface != c.iface) {
		goto out;
	}
	if (event == NET_EVENT_IPV4_ADDR_ADD) {
		/* PPP (IPCP) gave the interface its address. */
		if (link_ready()) {
			network_up();
		}
	} else {
		const struct in_addr *gone = cb->info;

		if (c.state == CELL_ATTACHED && gone != NULL && cb->info_length >= sizeof(*gone) &&
		    gone->s_addr == c.ip) {
			c.ip = iface_ip();
			if (c.ip == 0) {
				network_down(-EADDRNOTAVAIL);
			}
		}
	}
out:
	k_mutex_unlock(&cell_lock);
}

/* The driver's context. */
static void modem_event(const struct device *dev, enum cellular_event event, const void *payload,
			void *user_data)
{
	const struct cellular_evt_registration_status *reg = payload;

	ARG_UNUSED(dev);
	ARG_UNUSED(user_data);
	if (event != CELLULAR_EVENT_REGISTRATION_STATUS_CHANGED || reg == NULL) {
		return;
	}

	k_mutex_lock(&cell_lock, K_FOREVER);
	if (c.state != CELL_IDLE) {
		LOG_DBG("cellular: registration %d", reg->status);
		emit(ZPAIR_CELL_EVT_REGISTRATION, ZPAIR_ERR_NONE, reg->status, 0);
		if (c.state == CELL_ATTACHING && reg->status == CELLULAR_REGISTRATION_DENIED) {
			c.state = CELL_FAILED;
			k_work_cancel_delayable(&attach_timer);
			LOG_WRN("cellular: registration denied");
			emit(ZPAIR_CELL_EVT_ATTACH_FAILED, ZPAIR_ERR_REGISTRATION_DENIED,
			     reg->status, 0);
		}
	}
	k_mutex_unlock(&cell_lock);
}

/* System work queue. */
static void attach_timeout_fn(struct k_work *work)
{
	char imei[20];
	char iccid[24];
	char imsi[20];
	bool has_imei;
	bool has_sim;
	int reg;
	uint8_t error;

	ARG_UNUSED(work);

	/* Gather the facts without the lock (the driver answers from its own data). */
	has_imei = modem_info(CELLULAR_MODEM_INFO_IMEI, imei, sizeof(imei));
	has_sim = modem_info(CELLULAR_MODEM_INFO_SIM_ICCID, iccid, sizeof(iccid)) ||
		  modem_info(CELLULAR_MODEM_INFO_SIM_IMSI, imsi, sizeof(imsi));
	reg = best_registration();

	if (reg == CELLULAR_REGISTRATION_DENIED) {
		error = ZPAIR_ERR_REGISTRATION_DENIED;
	} else if (!has_imei) {
		error = ZPAIR_ERR_MODEM_FAILURE;
	} else if (!has_sim) {
		error = ZPAIR_ERR_SIM_MISSING;
	} else {
		error = ZPAIR_ERR_ATTACH_TIMEOUT;
	}

	k_mutex_lock(&cell_lock, K_FOREVER);
	if (c.state == CELL_ATTACHING) {
		c.state = CELL_FAILED;
		LOG_WRN("cellular: not attached in time (error 0x%02x, registration %d)", error,
			reg);
		emit(ZPAIR_CELL_EVT_ATTACH_FAILED, error, reg, 0);
	}
	k_mutex_unlock(&cell_lock);
}

/* ------------------------------------------------------------------------------------------ */
/* API                                                                                         */
/* ------------------------------------------------------------------------------------------ */

static struct net_if *modem_iface(void)
{
#if defined(CONFIG_NET_L2_PPP)
	struct net_if *ppp = net_if_get_first_by_type(&NET_L2_GET_NAME(PPP));

	if (ppp != NULL) {
		return ppp;
	}
#endif
	/* Offloaded modems (and tests) have one interface. */
	return net_if_get_default();
}

/* Lock held. */
static void ensure_init(void)
{
	if (c.inited) {
		return;
	}
	c.iface = modem_iface();
	net_mgmt_init_event_callback(&c.l4_cb, l4_handler, L4_EVENTS);
	net_mgmt_add_event_callback(&c.l4_cb);
	net_mgmt_init_event_callback(&c.ipv4_cb, ipv4_handler, IPV4_EVENTS);
	net_mgmt_add_event_callback(&c.ipv4_cb);
	if (device_is_ready(modem)) {
		int ret = cellular_set_callback(modem, CELLULAR_EVENT_REGISTRATION_STATUS_CHANGED,
						modem_event, NULL);

		if (ret != 0) {
			/* -ENOSYS: denial is then found at the timeout. */
			LOG_DBG("cellular: no registration events (%d)", ret);
		}
	}
	c.inited = true;
}

int zpair_cellular_set_callback(zpair_cellular_cb_t cb, void *user)
{
	k_mutex_lock(&cell_lock, K_FOREVER);
	ensure_init();
	c.cb = cb;
	c.user = user;
	k_mutex_unlock(&cell_lock);
	return 0;
}

static int modem_power(bool on)
{
	int ret;

	if (!IS_ENABLED(CONFIG_PM_DEVICE)) {
		return 0;
	}
	if (IS_ENABLED(CONFIG_PM_DEVICE_RUNTIME) && pm_device_runtime_is_enabled(modem)) {
		ret = on ? pm_device_runtime_get(modem) : pm_device_runtime_put(modem);
	} else {
		ret = pm_device_action_run(modem, on ? PM_DEVICE_ACTION_RESUME
						     : PM_DEVICE_ACTION_SUSPEND);
	}
	/* -EALREADY: already in that state. -ENOSYS: the device has no PM (always on). */
	if (ret == -EALREADY || ret == -ENOSYS) {
		ret = 0;
	}
	return ret;
}

int zpair_cellular_modem_attach(void)
{
	int ret;

	k_mutex_lock(&cell_lock, K_FOREVER);
	ensure_init();
	if (c.state == CELL_ATTACHING || c.state == CELL_ATTACHED) {
		k_mutex_unlock(&cell_lock);
		return -EALREADY;
	}
	if (!device_is_ready(modem) || c.iface == NULL) {
		k_mutex_unlock(&cell_lock);
		LOG_ERR("cellular: modem or its interface not ready");
		return -ENODEV;
	}
	c.state = CELL_ATTACHING;
	c.ip = 0;
	k_work_reschedule(&attach_timer, K_SECONDS(CONFIG_ZPAIR_CELLULAR_ATTACH_TIMEOUT_S));
	k_mutex_unlock(&cell_lock);

	/* Without the lock: powering a modem up or down may wait for it. */
	LOG_INF("cellular: powering the modem up");
	ret = modem_power(true);
	if (ret == 0) {
		ret = net_if_up(c.iface);
		if (ret == -EALREADY) {
			ret = 0;
		}
	}

	k_mutex_lock(&cell_lock, K_FOREVER);
	if (ret != 0) {
		LOG_ERR("cellular: modem power-up failed (%d)", ret);
		if (c.state == CELL_ATTACHING) {
			c.state = CELL_IDLE;
			k_work_cancel_delayable(&attach_timer);
		}
	} else if (c.state == CELL_ATTACHING && link_ready()) {
		/* Already connected (the modem stayed up, or offloaded and quick). */
		network_up();
	}
	k_mutex_unlock(&cell_lock);
	return ret;
}

int zpair_cellular_modem_detach(void)
{
	bool was_attached;
	int ret;

	k_mutex_lock(&cell_lock, K_FOREVER);
	ensure_init();
	if (c.state == CELL_IDLE) {
		k_mutex_unlock(&cell_lock);
		return 0;
	}
	was_attached = c.state == CELL_ATTACHED;
	c.state = CELL_IDLE;
	c.ip = 0;
	k_work_cancel_delayable(&attach_timer);
	k_mutex_unlock(&cell_lock);

	if (c.iface != NULL) {
		(void)net_if_down(c.iface);
	}
	ret = modem_power(false);
	if (ret != 0) {
		LOG_WRN("cellular: modem power-down failed (%d)", ret);
	}
	LOG_INF("cellular: detached");

	if (was_attached) {
		k_mutex_lock(&cell_lock, K_FOREVER);
		emit(ZPAIR_CELL_EVT_DETACHED, ZPAIR_ERR_NONE, 0, 0);
		k_mutex_unlock(&cell_lock);
	}
	return 0;
}

int zpair_cellular_info(struct zpair_cellular_info *info)
{
	if (info == NULL) {
		return -EINVAL;
	}
	memset(info, 0, sizeof(*info));
	if (!device_is_ready(modem)) {
		info->registration = -1;
		return -ENODEV;
	}
	(void)modem_info(CELLULAR_MODEM_INFO_IMEI, info->imei, sizeof(info->imei));
	(void)modem_info(CELLULAR_MODEM_INFO_SIM_ICCID, info->iccid, sizeof(info->iccid));
	info->registration = (int8_t)best_registration();
	return 0;
}
