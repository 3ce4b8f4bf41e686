/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * zpair's radio backends: flat C interfaces over Zephyr's Wi-Fi (net_mgmt), Bluetooth LE (GATT)
 * and cellular (modem_cellular / cellular API) subsystems, for the Rust glue
 * (rust/zpair-zephyr) and for C tests.
 *
 * The interface does not change with Kconfig: every function below is always defined. The
 * functions of a backend that is not enabled return -ENOTSUP (shim/backends/stubs.c):
 *   Wi-Fi station  CONFIG_ZPAIR_WIFI      (default y with the Wi-Fi management API; SoftAP and BLE
 *                                         modes join the router through it)
 *   SoftAP         CONFIG_ZPAIR_SOFTAP    (AP, DHCPv4 server, TCP listener)
 *   BLE            CONFIG_ZPAIR_BLE
 *   Cellular       CONFIG_ZPAIR_CELLULAR
 *
 * Conventions (as in zpair/shim.h):
 * - Functions return 0 (or a non-negative value) on success and a negative errno on failure.
 * - "Caller" means the zpair thread (the Rust glue) unless a function says "any thread".
 *   Functions are thread-safe (each backend has one mutex) but are not meant for ISRs.
 * - Outcomes arrive later as events through the one callback registered per backend. An event
 *   and every pointer in it are valid only during the callback: copy what you keep. Callbacks
 *   run in Zephyr's threads (named per backend below), one at a time per backend, must not block
 *   and may call this backend's functions (the backend mutex is recursive).
 * - Errors in events are zpair's wire error codes (ZPAIR_ERR_*, the values of
 *   zpair_core::error::PairError), so the glue hands them to the core without a table;
 *   `status` carries the raw Zephyr value for logs.
 * - Secrets (passphrases) are never logged; only their lengths.
 * - Names: this is the backend layer. It does not reuse a name of zpair/shim.h (the interface
 *   the Rust glue calls, whose zpair_softap_*, zpair_ble_start/stop/notify/mtu/disconnect,
 *   zpair_wifi_scan/connect/status and zpair_cellular_attach/status/detach are meant to be
 *   implemented on top of these functions), so both layers link side by side.
 */
#ifndef ZPAIR_SHIM_BACKENDS_H_
#define ZPAIR_SHIM_BACKENDS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* zpair error codes used by the backends (PairError wire codes, docs/protocol.md section 7)    */
/* ------------------------------------------------------------------------------------------ */

/** No error. */
#define ZPAIR_ERR_NONE                0x00
/** No access point with that SSID was found. */
#define ZPAIR_ERR_AP_NOT_FOUND        0x30
/** The access point rejected the passphrase. */
#define ZPAIR_ERR_WRONG_PASSWORD      0x31
/** Association failed for another reason (including a connect timeout). */
#define ZPAIR_ERR_ASSOCIATION_FAILED  0x32
/** Associated, but no DHCP lease in time. */
#define ZPAIR_ERR_DHCP_TIMEOUT        0x33
/** The link went down after it was up. */
#define ZPAIR_ERR_LINK_LOST           0x35
/** No link / no interface. */
#define ZPAIR_ERR_NO_LINK             0x36
/** No SIM card, or the SIM is locked. */
#define ZPAIR_ERR_SIM_MISSING         0x40
/** The network denied registration. */
#define ZPAIR_ERR_REGISTRATION_DENIED 0x41
/** The modem did not attach in time. */
#define ZPAIR_ERR_ATTACH_TIMEOUT      0x42
/** The modem does not answer or failed to power up. */
#define ZPAIR_ERR_MODEM_FAILURE       0x43
/** Internal error (a radio operation the driver refused). */
#define ZPAIR_ERR_INTERNAL            0x63

/* ------------------------------------------------------------------------------------------ */
/* Wi-Fi: station, scan, SoftAP + DHCPv4 server + TCP listener                                  */
/* ------------------------------------------------------------------------------------------ */

/** zpair security codes (zpair_core::types::Security::code). */
#define ZPAIR_WIFI_SEC_OPEN      0
#define ZPAIR_WIFI_SEC_WPA2_PSK  1
/** WPA2/WPA3 transition (WPA2-PSK or SAE, whichever the AP offers). */
#define ZPAIR_WIFI_SEC_WPA2_WPA3 2
#define ZPAIR_WIFI_SEC_WPA3_SAE  3
/** Scan results only: a security zpair cannot join (WEP, WPA1-only, enterprise, WAPI, ...). */
#define ZPAIR_WIFI_SEC_UNSUPPORTED 0xff

/** Largest number of simultaneous TCP connections on the SoftAP listener (the core answers a
 * second app with Alert(busy) and closes it, so 2 is enough).
 */
#define ZPAIR_WIFI_TCP_MAX_CONN 2

/** Largest TCP_DATA chunk delivered at once. */
#define ZPAIR_WIFI_TCP_CHUNK 256

/** struct zpair_wifi_event.kind */
enum zpair_wifi_event_kind {
	/** One scan result: `scan` is filled. */
	ZPAIR_WIFI_EVT_SCAN_RESULT = 1,
	/** The scan finished: status 0 or the driver's status (-ETIMEDOUT when the driver never
	 * said it finished, after CONFIG_ZPAIR_WIFI_SCAN_TIMEOUT_S).
	 */
	ZPAIR_WIFI_EVT_SCAN_DONE = 2,
	/** The station associated (connect result 0); DHCP runs. Informational. */
	ZPAIR_WIFI_EVT_ASSOCIATED = 3,
	/** The station is up: `ip4` holds its IPv4 address (network byte order). */
	ZPAIR_WIFI_EVT_CONNECTED = 4,
	/** zpair_wifi_sta_connect() failed: `error` is AP_NOT_FOUND, WRONG_PASSWORD,
	 * ASSOCIATION_FAILED or DHCP_TIMEOUT; `status` is the Zephyr connect status
	 * (enum wifi_conn_status) or a negative errno (-ETIMEDOUT).
	 * After DHCP_TIMEOUT the station is still associated: call zpair_wifi_sta_disconnect().
	 */
	ZPAIR_WIFI_EVT_CONNECT_FAILED = 5,
	/** The station was connected and is not any more: `error` LINK_LOST (AP gone, address
	 * lost) or NONE (after zpair_wifi_sta_disconnect()).
	 */
	ZPAIR_WIFI_EVT_DISCONNECTED = 6,
	/** The access point runs: `ip4` is its address, `scan.ssid` its SSID, `scan.channel`. */
	ZPAIR_WIFI_EVT_AP_STARTED = 7,
	/** The access point stopped: `error` NONE after zpair_wifi_ap_stop(), INTERNAL when the
	 * driver reported a failure (`status` = enum wifi_ap_status).
	 */
	ZPAIR_WIFI_EVT_AP_STOPPED = 8,
	/** A station (phone) joined the access point: `scan.bssid` is its MAC. */
	ZPAIR_WIFI_EVT_AP_STA_JOINED = 9,
	/** A station left the access point: `scan.bssid` is its MAC. */
	ZPAIR_WIFI_EVT_AP_STA_LEFT = 10,
	/** The listener accepted an app: new connection `conn`, `ip4` its address. */
	ZPAIR_WIFI_EVT_TCP_ACCEPTED = 11,
	/** Bytes from `conn`: data[0..len) (raw stream, framing not removed; len <=
	 * ZPAIR_WIFI_TCP_CHUNK).
	 */
	ZPAIR_WIFI_EVT_TCP_DATA = 12,
	/** The app closed `conn` or it broke (`status` 0 or a negative errno). Not sent for
	 * connections closed with zpair_wifi_tcp_close() or zpair_wifi_ap_stop().
	 */
	ZPAIR_WIFI_EVT_TCP_CLOSED = 13,
};

/** A scan result (also carries the SSID of AP_STARTED and the MAC of AP_STA_*). */
struct zpair_wifi_scan_entry {
	uint8_t ssid[32];
	/** 0..32 (0: hidden network). */
	uint8_t ssid_len;
	/** ZPAIR_WIFI_SEC_* (ZPAIR_WIFI_SEC_UNSUPPORTED for networks zpair cannot join). */
	uint8_t security;
	/** The driver's enum wifi_security_type, for logs and the app's "why not". */
	uint8_t zephyr_security;
	uint8_t channel;
	/** dBm. */
	int8_t rssi;
	/** enum wifi_frequency_bands (0 = 2.4 GHz, 1 = 5 GHz, 2 = 6 GHz). */
	uint8_t band;
	uint8_t bssid[6];
};

/** One Wi-Fi event (see enum zpair_wifi_event_kind for which fields are meaningful). */
struct zpair_wifi_event {
	/** enum zpair_wifi_event_kind */
	uint8_t kind;
	/** ZPAIR_ERR_* or ZPAIR_ERR_NONE. */
	uint8_t error;
	/** Length of data (TCP_DATA). */
	uint16_t len;
	/** Raw status: Zephyr's wifi_status value or a negative errno. */
	int32_t status;
	/** IPv4 address in network byte order, 0 if none. */
	uint32_t ip4;
	/** TCP connection id (TCP_*), never 0, never reused while the system runs. */
	uint32_t conn;
	/** TCP_DATA bytes. */
	const uint8_t *data;
	/** SCAN_RESULT, AP_STARTED, AP_STA_*. */
	struct zpair_wifi_scan_entry scan;
};

/** Network to join (zpair_wifi_sta_connect). */
struct zpair_wifi_connect_params {
	const uint8_t *ssid;
	/** 1..32 */
	uint8_t ssid_len;
	/** ZPAIR_WIFI_SEC_OPEN..ZPAIR_WIFI_SEC_WPA3_SAE */
	uint8_t security;
	/** 8..64 bytes for the secured types, 0 for open. Used during the call only. */
	uint8_t psk_len;
	const uint8_t *psk;
	/** 6 bytes to lock onto one access point, or NULL. */
	const uint8_t *bssid;
	/** Channel hint, 0 = any. */
	uint8_t channel;
	/** The SSID is hidden (the driver probes for it; Zephyr's supplicant always does). */
	uint8_t hidden;
};

/**
 * Wi-Fi event callback. Runs in the net_mgmt event thread (scan/connect/AP/IP events), the
 * system work queue (timeouts) or the socket-service thread (TCP events); one event at a time.
 */
typedef void (*zpair_wifi_cb_t)(const struct zpair_wifi_event *evt, void *user);

/**
 * Registers the callback that receives every Wi-Fi event (NULL: events are dropped) and
 * subscribes to Zephyr's Wi-Fi and IPv4 events. Call it once before the other zpair_wifi_*
 * functions; calling it again replaces the callback.
 * Returns 0, -ENODEV (no Wi-Fi interface), -ENOTSUP (CONFIG_ZPAIR_WIFI off).
 */
int zpair_wifi_set_callback(zpair_wifi_cb_t cb, void *user);

/**
 * Starts a scan (NET_REQUEST_WIFI_SCAN) on the station interface. With ssid (1..32 bytes) the
 * scan probes for that SSID (hidden networks). Results arrive as SCAN_RESULT events, then one
 * SCAN_DONE.
 * Returns 0, -EBUSY (a scan runs), -EINVAL (ssid_len > 32), -ENODEV, -ENOTSUP, or the
 * driver's error.
 */
int zpair_wifi_scan_start(const uint8_t *ssid, size_t ssid_len);

/**
 * Joins a network (NET_REQUEST_WIFI_CONNECT) and then waits for an IPv4 address (starts the
 * DHCPv4 client when CONFIG_NET_DHCPV4). Events: ASSOCIATED, then CONNECTED(ip4) or
 * CONNECT_FAILED(error). The connect is given CONFIG_ZPAIR_WIFI_CONNECT_TIMEOUT_S, the lease
 * CONFIG_ZPAIR_WIFI_DHCP_TIMEOUT_S. The passphrase is used during the call only (drivers copy
 * it) and never logged.
 * Returns 0 (outcome follows as an event), -EINVAL (bad lengths), -ENOTSUP (security code
 * unknown, or Wi-Fi off), -EALREADY (connecting or connected: disconnect first), -EBUSY (the
 * access point runs on the same interface: stop it first), -ENODEV, or the driver's error.
 */
int zpair_wifi_sta_connect(const struct zpair_wifi_connect_params *params);

/**
 * Leaves the network (NET_REQUEST_WIFI_DISCONNECT) and stops the DHCPv4 client. A connected
 * station reports DISCONNECTED(error NONE); a connect in progress is abandoned silently.
 * Returns 0 (also when not connected), -ENOTSUP.
 */
int zpair_wifi_sta_disconnect(void);

/**
 * The station's state: 0 and *ip4 (network order) when connected, -ENETDOWN otherwise,
 * -ENOTSUP. Any thread.
 */
int zpair_wifi_sta_status(uint32_t *ip4);

/**
 * Writes the SoftAP SSID for device_id into buf: CONFIG_ZPAIR_SOFTAP_SSID_PREFIX followed by
 * the last four hex digits (lowercase) of the device id, e.g. "zpair-6677", NUL-terminated.
 * Returns the SSID length, -ENOSPC (cap too small; 33 is always enough), -ENOTSUP (SoftAP off).
 * Any thread.
 */
int zpair_wifi_ap_ssid(uint64_t device_id, char *buf, size_t cap);

/**
 * Starts the open access point (NET_REQUEST_WIFI_AP_ENABLE, SSID from zpair_wifi_ap_ssid(),
 * channel CONFIG_ZPAIR_SOFTAP_CHANNEL), gives it CONFIG_ZPAIR_SOFTAP_IPV4_ADDR/
 * CONFIG_ZPAIR_SOFTAP_IPV4_NETMASK, starts the DHCPv4 server (pool from the next address; when
 * CONFIG_NET_DHCPV4_SERVER) and the TCP listener on CONFIG_ZPAIR_SOFTAP_PORT. Then AP_STARTED.
 * The session's security is zpair's own (SPAKE2+), so the AP is open.
 * Returns 0, -EALREADY (running), -EBUSY (the station is connecting/connected on the same
 * interface), -ENODEV, -ENOTSUP (SoftAP off), or the driver's/socket error (everything
 * started so far is undone).
 */
int zpair_wifi_ap_start(uint64_t device_id);

/**
 * Closes every TCP connection and the listener, stops the DHCPv4 server, removes the AP
 * address and disables the access point. Then AP_STOPPED(error NONE).
 * Returns 0 (also when not running), -ENOTSUP.
 */
int zpair_wifi_ap_stop(void);

/**
 * Sends data[0..len) on TCP connection conn (blocking until queued; the caller frames it).
 * Returns 0, -ENOTCONN (unknown or closed conn), a negative errno from send, -ENOTSUP.
 */
int zpair_wifi_tcp_send(uint32_t conn, const uint8_t *data, size_t len);

/** Closes TCP connection conn (no TCP_CLOSED event). Returns 0, -ENOTCONN, -ENOTSUP. */
int zpair_wifi_tcp_close(uint32_t conn);

/* ------------------------------------------------------------------------------------------ */
/* Bluetooth LE: one GATT service, one write/notify characteristic, advertising                 */
/* ------------------------------------------------------------------------------------------ */

/** The zpair GATT service (128-bit, advertised). */
#define ZPAIR_BLE_SERVICE_UUID_STR "b0220001-2931-4b95-88c2-3033d312cc41"
/** The one characteristic: write, write without response, notify (with CCC). */
#define ZPAIR_BLE_CHAR_UUID_STR    "b0220002-2931-4b95-88c2-3033d312cc41"

/**
 * Service data carried in the scan response (AD type 0x21, after the 16 service UUID bytes),
 * little-endian: version (u8) | discriminator (u16, bits 0..11; 12..15 zero) | state (u8) |
 * product (u32). 8 bytes.
 */
#define ZPAIR_BLE_SVC_DATA_LEN 8

/** What the advertisement says (zpair_ble_start_adv). */
struct zpair_ble_adv_params {
	/** Protocol version (zpair_core::PROTOCOL_VERSION). */
	uint8_t version;
	/** Pairing state (zpair_core::msg::PairState code), so apps can list paired devices. */
	uint8_t state;
	/** The device id's low 12 bits (masked by the backend). */
	uint16_t discriminator;
	/** Product id. */
	uint32_t product;
};

/** struct zpair_ble_event.kind */
enum zpair_ble_event_kind {
	/** An app connected (`conn`, `mtu` = current ATT MTU, usually 23). Advertising stopped. */
	ZPAIR_BLE_EVT_CONNECTED = 1,
	/** The app disconnected (`reason` = HCI reason). Advertising resumes if it was on. */
	ZPAIR_BLE_EVT_DISCONNECTED = 2,
	/** The ATT MTU changed (`mtu`; fragments may be up to mtu - 3 bytes). */
	ZPAIR_BLE_EVT_MTU = 3,
	/** The app wrote one fragment: data[0..len) (len <= mtu - 3). */
	ZPAIR_BLE_EVT_WRITE = 4,
	/** The app enabled (`len` = 1) or disabled (0) notifications. */
	ZPAIR_BLE_EVT_SUBSCRIBED = 5,
	/** The notification in flight was handed to the controller: the next may be sent. */
	ZPAIR_BLE_EVT_SENT = 6,
	/** Advertising stopped by itself (CONFIG_ZPAIR_BLE_ADV_TIMEOUT_S). */
	ZPAIR_BLE_EVT_ADV_STOPPED = 7,
};

/** One BLE event. */
struct zpair_ble_event {
	/** enum zpair_ble_event_kind */
	uint8_t kind;
	/** HCI disconnect reason (DISCONNECTED). */
	uint8_t reason;
	/** ATT MTU (CONNECTED, MTU). */
	uint16_t mtu;
	/** Connection id, never 0, never reused while the system runs. */
	uint32_t conn;
	/** WRITE: the fragment. */
	const uint8_t *data;
	/** WRITE: its length; SUBSCRIBED: 1 on, 0 off. */
	uint16_t len;
};

/**
 * BLE event callback. Runs in the Bluetooth host's threads (RX thread for connections,
 * writes and MTU; the system work queue for SENT and ADV_STOPPED); one event at a time.
 */
typedef void (*zpair_ble_cb_t)(const struct zpair_ble_event *evt, void *user);

/** Registers the BLE event callback (NULL: events dropped). Returns 0 or -ENOTSUP. */
int zpair_ble_set_callback(zpair_ble_cb_t cb, void *user);

/**
 * Enables Bluetooth if needed (bt_enable; with CONFIG_BT_SETTINGS the application must have
 * called settings_load()) and advertises connectable with the service UUID (advertising data)
 * and the service data (scan response) every CONFIG_ZPAIR_BLE_ADV_FAST_MS. While a zpair app is
 * connected, advertising waits and resumes after the disconnect. Called while advertising, it
 * updates the advertised data. CONFIG_ZPAIR_BLE_ADV_TIMEOUT_S > 0 stops it after that long.
 * Returns 0, -EINVAL (params NULL), -ENOTSUP, or the host's error.
 */
int zpair_ble_start_adv(const struct zpair_ble_adv_params *params);

/** Stops advertising (a connected app stays connected). Returns 0 or -ENOTSUP. */
int zpair_ble_stop_adv(void);

/**
 * Notifies one fragment data[0..len) to the app on conn (bt_gatt_notify_cb; the data is copied
 * before returning). One notification may be in flight: wait for ZPAIR_BLE_EVT_SENT.
 * Returns 0, -EAGAIN (one in flight, or the host is out of buffers: retry after SENT or a
 * moment), -ENOTCONN (conn unknown or disconnected), -EACCES (the app has not enabled
 * notifications), -EMSGSIZE (len > mtu - 3), -ENOTSUP.
 */
int zpair_ble_gatt_notify(uint32_t conn, const uint8_t *data, size_t len);

/** The ATT MTU of conn (23 when conn is unknown or BLE is off). Any thread. */
uint16_t zpair_ble_gatt_mtu(uint32_t conn);

/** Disconnects conn (DISCONNECTED follows). Returns 0, -ENOTCONN, -ENOTSUP. */
int zpair_ble_gatt_disconnect(uint32_t conn);

/* ------------------------------------------------------------------------------------------ */
/* Cellular: modem power, registration, PPP, attach timeout                                     */
/* ------------------------------------------------------------------------------------------ */

/** struct zpair_cellular_event.kind */
enum zpair_cellular_event_kind {
	/** The network is up: `ip4` (network order, 0 if the interface has none). */
	ZPAIR_CELL_EVT_ATTACHED = 1,
	/** Attach failed: `error` SIM_MISSING, REGISTRATION_DENIED, ATTACH_TIMEOUT or
	 * MODEM_FAILURE; the modem keeps trying until zpair_cellular_modem_detach().
	 */
	ZPAIR_CELL_EVT_ATTACH_FAILED = 2,
	/** The network was up and went down (`error` LINK_LOST), or zpair_cellular_modem_detach()
	 * (`error` NONE).
	 */
	ZPAIR_CELL_EVT_DETACHED = 3,
	/** The registration status changed: `status` = enum cellular_registration_status.
	 * Informational.
	 */
	ZPAIR_CELL_EVT_REGISTRATION = 4,
};

/** One cellular event. */
struct zpair_cellular_event {
	/** enum zpair_cellular_event_kind */
	uint8_t kind;
	/** ZPAIR_ERR_* or ZPAIR_ERR_NONE. */
	uint8_t error;
	/** Raw status (registration status, negative errno). */
	int32_t status;
	/** IPv4 address, network byte order. */
	uint32_t ip4;
};

/** Identity of the modem and SIM (zpair_cellular_info). Empty strings when unknown. */
struct zpair_cellular_info {
	char imei[20];
	char iccid[24];
	/** enum cellular_registration_status of the best access technology, or -1 unknown. */
	int8_t registration;
};

/**
 * Cellular event callback. Runs in the net_mgmt event thread (L4/IP events), the modem
 * driver's context (registration changes) or the system work queue (attach timeout).
 */
typedef void (*zpair_cellular_cb_t)(const struct zpair_cellular_event *evt, void *user);

/** Registers the cellular event callback (NULL: events dropped). Returns 0 or -ENOTSUP. */
int zpair_cellular_set_callback(zpair_cellular_cb_t cb, void *user);

/**
 * Powers the `modem` devicetree alias up (PM resume), brings its network interface up and
 * waits for it to be connected (NET_EVENT_L4_CONNECTED, or an IPv4 address on the PPP
 * interface): ATTACHED(ip4), or ATTACH_FAILED after CONFIG_ZPAIR_CELLULAR_ATTACH_TIMEOUT_S
 * (registration denied is reported as soon as the modem says so).
 * Returns 0 (outcome follows; ATTACHED may come at once if the network is already up),
 * -EALREADY (attaching or attached), -ENODEV (modem not ready, no interface), -ENOTSUP, or the
 * PM/interface error.
 */
int zpair_cellular_modem_attach(void);

/**
 * Brings the modem's interface down and suspends the modem (PM). DETACHED(error NONE) follows
 * if it was attached. Returns 0 (also when idle), -ENOTSUP.
 */
int zpair_cellular_modem_detach(void);

/**
 * Reads IMEI, ICCID (cellular_get_modem_info) and the registration status
 * (cellular_get_registration_status). Returns 0, -EINVAL (info NULL), -ENODEV, -ENOTSUP.
 * Any thread.
 */
int zpair_cellular_info(struct zpair_cellular_info *info);

#ifdef __cplusplus
}
#endif

#endif /* ZPAIR_SHIM_BACKENDS_H_ */
