/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * zpair's flat C interface between the Rust glue (rust/zpair-zephyr) and Zephyr.
 *
 * Everything Rust cannot reach through zephyr-lang-rust's bindings (settings, sockets, net_mgmt,
 * shell, logging with zpair's own module, TLS credentials) sits behind these functions. The
 * interface is the same for every Kconfig: the functions of a backend that is not enabled are
 * still defined and return -ENOTSUP, so the Rust side links against one ABI and decides at run
 * time (or with #[cfg(CONFIG_...)]) what to call.
 *
 * Conventions:
 * - Functions return 0 (or a non-negative count) on success and a negative errno on failure.
 * - Pointers with a length may be NULL when the length is 0.
 * - Buffers handed to these functions are only used during the call, except where noted.
 * - Modes use the session's wire numbering: 0 SoftAP, 1 BLE, 2 wired, 3 cellular.
 * - Only the zpair thread calls the functions below (except zpair_log, zpair_uptime_ms,
 *   zpair_cycles*, zpair_random), unless a function says otherwise.
 */
#ifndef ZPAIR_SHIM_H_
#define ZPAIR_SHIM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Modes                                                                                       */
/* ------------------------------------------------------------------------------------------ */

#define ZPAIR_MODE_SOFTAP   0
#define ZPAIR_MODE_BLE      1
#define ZPAIR_MODE_WIRED    2
#define ZPAIR_MODE_CELLULAR 3

/** Bit set of the modes this build enables (bit n = mode n), from Kconfig. */
uint8_t zpair_modes_enabled(void);

/* ------------------------------------------------------------------------------------------ */
/* Logging (module "zpair", level CONFIG_ZPAIR_LOG_LEVEL)                                       */
/* ------------------------------------------------------------------------------------------ */

#define ZPAIR_LOG_ERR 1
#define ZPAIR_LOG_WRN 2
#define ZPAIR_LOG_INF 3
#define ZPAIR_LOG_DBG 4

/**
 * Logs msg[0..len) (not NUL-terminated; truncated to 159 bytes) at level (ZPAIR_LOG_*) in
 * zpair's log module. Any thread. Never pass secrets.
 */
void zpair_log(int level, const char *msg, size_t len);

/** printk of msg[0..len) (tests print their results with it). Any thread. */
void zpair_print(const char *msg, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Time, randomness, system                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** Milliseconds since boot (k_uptime_get). Any thread. */
int64_t zpair_uptime_ms(void);

/** The hardware cycle counter (k_cycle_get_32). Any thread. */
uint32_t zpair_cycles(void);

/** Frequency of zpair_cycles() in Hz (sys_clock_hw_cycles_per_sec). Any thread. */
uint32_t zpair_cycles_per_sec(void);

/** Fills dst[0..len) from the CSPRNG (sys_csrand_get). Any thread. */
int zpair_random(void *dst, size_t len);

/** Sleeps (k_msleep). */
void zpair_sleep_ms(int32_t ms);

/** Warm reboot (sys_reboot), when CONFIG_REBOOT; -ENOTSUP otherwise. */
int zpair_reboot(void);

/** Flushes pending log messages (log_flush when deferred logging is on). Any thread. */
void zpair_log_flush(void);

/**
 * Starts the zpair thread (stack CONFIG_ZPAIR_THREAD_STACK_SIZE, priority
 * CONFIG_ZPAIR_THREAD_PRIORITY) running entry(arg). Once: -EALREADY afterwards.
 */
int zpair_thread_start(void (*entry)(void *arg), void *arg);

/**
 * Stack use of the zpair thread: *size its size, *unused the bytes never touched so far
 * (needs CONFIG_INIT_STACKS and CONFIG_THREAD_STACK_INFO; -ENOTSUP otherwise).
 */
int zpair_thread_stack_unused(size_t *unused, size_t *size);

/* ------------------------------------------------------------------------------------------ */
/* Persistence over the settings subsystem                                                     */
/* ------------------------------------------------------------------------------------------ */

/** Record slot A: settings key "zpair/a". */
#define ZPAIR_SLOT_A       0
/** Record slot B: settings key "zpair/b". */
#define ZPAIR_SLOT_B       1
/** Factory data: settings key "zpair/factory". */
#define ZPAIR_SLOT_FACTORY 2

/** Initialises the settings subsystem (settings_subsys_init). Idempotent. */
int zpair_storage_init(void);

/**
 * Reads a slot: copies min(value length, cap) bytes into buf and stores the value's full length
 * in *len. -ENOENT: the slot is empty (never written or erased).
 */
int zpair_storage_read(uint8_t slot, uint8_t *buf, size_t cap, size_t *len);

/** Replaces a slot's value (settings_save_one). */
int zpair_storage_write(uint8_t slot, const uint8_t *data, size_t len);

/** Empties a slot (settings_delete). Erasing an empty slot succeeds. */
int zpair_storage_erase(uint8_t slot);

/* ------------------------------------------------------------------------------------------ */
/* The input queue: everything the zpair thread waits for                                      */
/* ------------------------------------------------------------------------------------------ */

/** zpair_input.kind */
enum zpair_input_kind {
	/** A packet from an app: data[0..len) on conn (transport framing already removed). */
	ZPAIR_IN_PACKET = 1,
	/** A transport accepted an app connection (stream/BLE; UDP reports new peers with arg=1
	 * on their first packet instead).
	 */
	ZPAIR_IN_CONNECTED = 2,
	/** A transport lost an app connection. */
	ZPAIR_IN_DISCONNECTED = 3,
	/** The network of `mode` changed: arg = ZPAIR_NET_UP / ZPAIR_NET_DOWN / a negative errno
	 * (join failed, link lost) / ZPAIR_NET_ERROR(code) (join failed or link lost, with the
	 * precise zpair error, a PairError wire code: wrong password, DHCP timeout, SIM missing,
	 * registration denied, attach timeout, modem failure, link lost, ...).
	 */
	ZPAIR_IN_NET = 4,
	/** A command: arg = ZPAIR_CMD_*, conn its numeric argument, data[0..len) its data
	 * argument; answer with zpair_cmd_print() and finish with zpair_cmd_done(ctx, rc).
	 */
	ZPAIR_IN_COMMAND = 5,
	/** A Wi-Fi scan result (data = struct zpair_scan_result) or, with len 0, the end of the
	 * scan (arg = 0 or a negative errno).
	 */
	ZPAIR_IN_SCAN = 6,
	/** The pairing button: arg = 0 short press, 1 long press. */
	ZPAIR_IN_BUTTON = 7,
};

#define ZPAIR_NET_UP   1
#define ZPAIR_NET_DOWN 0

/**
 * ZPAIR_IN_NET arg (and zpair_net_connect() return value) for a network failure with a precise
 * zpair error: code is a PairError wire code (the ZPAIR_ERR_* of zpair/shim_backends.h, e.g.
 * 0x31 wrong password, 0x30 AP not found, 0x33 DHCP timeout, 0x32 association failed). The
 * value is -(0x10000 + code): below every negative errno, so both fit one int32_t.
 * ZPAIR_NET_ERROR_CODE() gives the code back (-1 for other values).
 */
#define ZPAIR_NET_ERR_BASE      0x10000
#define ZPAIR_NET_ERROR(code)   (-(int32_t)(ZPAIR_NET_ERR_BASE + (uint8_t)(code)))
#define ZPAIR_NET_ERROR_CODE(v)                                                                    \
	(((v) <= -ZPAIR_NET_ERR_BASE && (v) > -(ZPAIR_NET_ERR_BASE + 0x100))                       \
		 ? (int)(-(v) - ZPAIR_NET_ERR_BASE)                                                \
		 : -1)

/** ZPAIR_IN_COMMAND: zpair_input.arg */
enum zpair_cmd {
	/** Print the state. */
	ZPAIR_CMD_STATUS = 1,
	/** Open the pairing window; conn = mode bit set (0 = every enabled mode). */
	ZPAIR_CMD_START = 2,
	/** Close the pairing window / abort the pairing in progress. */
	ZPAIR_CMD_STOP = 3,
	/** Forget the network credentials. */
	ZPAIR_CMD_RESET_NETWORK = 4,
	/** Erase everything but the factory data. */
	ZPAIR_CMD_RESET_FACTORY = 5,
	/** Print the setup payload and its QR code. */
	ZPAIR_CMD_PAYLOAD = 6,
	/** Write new factory data: data[0..len) (the 154-byte layout). */
	ZPAIR_CMD_FACTORY = 7,
};

/** One input. Pointers stay valid until zpair_input_release(). */
struct zpair_input {
	/** enum zpair_input_kind */
	uint8_t kind;
	/** ZPAIR_MODE_* of the transport or network. */
	uint8_t mode;
	/** Length of data. */
	uint16_t len;
	/** Connection id (transport inputs). */
	uint32_t conn;
	/** Kind-specific argument (see enum zpair_input_kind). */
	int32_t arg;
	/** Kind-specific data. */
	const uint8_t *data;
	/** Command context (ZPAIR_IN_COMMAND), for zpair_cmd_print / zpair_cmd_done. */
	void *ctx;
	/** Opaque, for zpair_input_release. */
	void *token;
};

/**
 * Waits up to timeout_ms (negative: forever) for the next input. 0: *in is filled (release it
 * with zpair_input_release once done with its data); -EAGAIN: timeout.
 */
int zpair_input_wait(int32_t timeout_ms, struct zpair_input *in);

/** Hands an input's buffer back to the backend that produced it. */
void zpair_input_release(const struct zpair_input *in);

/** Prints one line of a command's answer (msg[0..len), no newline needed). */
void zpair_cmd_print(void *ctx, const char *msg, size_t len);

/** Finishes a command (the shell command returns rc). Exactly once per command input. */
void zpair_cmd_done(void *ctx, int rc);

/**
 * Queues a command with a numeric argument (see enum zpair_cmd) for the zpair thread, without
 * waiting and without output: for application code (a button handler, a cloud message). Any
 * thread. -EINVAL for ZPAIR_CMD_FACTORY (it needs data); -ENOSPC: the queue is full.
 */
int zpair_request(enum zpair_cmd cmd, uint32_t value);

/* ------------------------------------------------------------------------------------------ */
/* Networks                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** Wi-Fi credentials for zpair_net_connect (SoftAP/BLE modes). */
struct zpair_wifi_params {
	const uint8_t *ssid;
	uint8_t ssid_len;
	/** 0 open, 1 WPA2-PSK, 2 WPA2/WPA3, 3 WPA3-SAE (Security::code). */
	uint8_t security;
	const uint8_t *psk;
	uint8_t psk_len;
	/** 6 bytes or NULL. */
	const uint8_t *bssid;
	/** 0 = any. */
	uint8_t channel;
	uint8_t hidden;
};

/** A Wi-Fi scan result (ZPAIR_IN_SCAN). */
struct zpair_scan_result {
	uint8_t ssid[32];
	uint8_t ssid_len;
	uint8_t security;
	uint8_t channel;
	int8_t rssi;
	uint8_t bssid[6];
};

/**
 * Brings up the network of `mode` (wifi: the credentials for Wi-Fi modes, NULL otherwise).
 * 0: up now (*ip4 holds the IPv4 address in network order, 0 when the interface has none, e.g.
 * offloaded sockets); -EINPROGRESS: a ZPAIR_IN_NET input will follow (ZPAIR_NET_UP, or a
 * failure: a negative errno or ZPAIR_NET_ERROR(code)); other: failed at once.
 *
 * Wi-Fi modes (SoftAP, BLE) share one radio: joining the network stops the SoftAP first (its
 * app connections are reported as ZPAIR_IN_DISCONNECTED), and zpair_softap_start() leaves the
 * network again.
 */
int zpair_net_connect(uint8_t mode, const struct zpair_wifi_params *wifi, uint32_t *ip4);

/** The current state of the network of `mode`: 0 up (*ip4 as above), -ENETDOWN down. */
int zpair_net_status(uint8_t mode, uint32_t *ip4);

/** Leaves the network of `mode` that zpair joined. */
int zpair_net_disconnect(uint8_t mode);

/**
 * Starts a Wi-Fi scan; results arrive as ZPAIR_IN_SCAN inputs (mode ZPAIR_MODE_SOFTAP, data =
 * struct zpair_scan_result; security 0xff for networks zpair cannot join), then one with len 0
 * (arg 0 or a negative errno). -EBUSY: a scan runs.
 */
int zpair_wifi_scan(void);

/* ------------------------------------------------------------------------------------------ */
/* Wired backend (UDP)                                                                         */
/* ------------------------------------------------------------------------------------------ */

/**
 * Opens the wired session socket on CONFIG_ZPAIR_WIRED_PORT and starts receiving: every
 * datagram becomes a ZPAIR_IN_PACKET input with mode ZPAIR_MODE_WIRED, data = the whole
 * datagram (framing included), conn = an id for its sender (arg = 1 the first time a sender
 * is seen). Idempotent.
 */
int zpair_wired_open(void);

/** Stops receiving and closes the socket. */
int zpair_wired_close(void);

/** The UDP port the session socket is bound to (0 when closed). */
uint16_t zpair_wired_port(void);

/** Sends a datagram to CONFIG_ZPAIR_WIRED_ANNOUNCE_ADDR:CONFIG_ZPAIR_WIRED_ANNOUNCE_PORT. */
int zpair_wired_announce(const uint8_t *datagram, size_t len);

/** Sends a datagram to the sender of conn. -ENOENT: conn unknown (forgotten). */
int zpair_wired_send(uint32_t conn, const uint8_t *datagram, size_t len);

/** Forgets conn (its sender gets a new id with its next datagram). */
void zpair_wired_forget(uint32_t conn);

/* ------------------------------------------------------------------------------------------ */
/* SoftAP backend (TCP on the access point)                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Starts the access point `ssid` (CONFIG_ZPAIR_SOFTAP_SSID_PREFIX followed by the last four hex
 * digits of the device id: -EINVAL otherwise) and the TCP listener on
 * CONFIG_ZPAIR_SOFTAP_PORT, leaving the Wi-Fi network first if the station is on one (one
 * radio). Inputs with mode ZPAIR_MODE_SOFTAP follow: ZPAIR_IN_CONNECTED (conn = the TCP
 * connection), ZPAIR_IN_PACKET with the raw stream bytes as received (data[0..len), framing
 * NOT removed: the glue reassembles), ZPAIR_IN_DISCONNECTED when the app closed, the connection
 * broke, or the access point went down (zpair_softap_stop(), zpair_net_connect()).
 * Idempotent.
 */
int zpair_softap_start(const uint8_t *ssid, size_t ssid_len);
/** Stops the listener and the access point (open connections: ZPAIR_IN_DISCONNECTED). */
int zpair_softap_stop(void);
/** Sends bytes (already stream-framed) on conn. -ENOTCONN: conn unknown or closed. */
int zpair_softap_send(uint32_t conn, const uint8_t *data, size_t len);
/** Closes conn (no ZPAIR_IN_DISCONNECTED follows). */
int zpair_softap_close(uint32_t conn);

/* ------------------------------------------------------------------------------------------ */
/* BLE backend (GATT)                                                                          */
/* ------------------------------------------------------------------------------------------ */

/*
 * shim/zpair_ble.c over zpair/shim_backends.h (one zpair app connection at a time). Inputs,
 * all with mode ZPAIR_MODE_BLE and conn = the backend's connection id:
 * - ZPAIR_IN_CONNECTED when an app connects (arg = its ATT MTU, usually 23 at first);
 * - ZPAIR_IN_PACKET for every ATT write of the app: data[0..len) is ONE GATT fragment (the
 *   framing of zpair_core::frame::gatt is not removed: the glue reassembles), arg = the ATT
 *   MTU when it was written (fragments are at most arg - 3 bytes);
 * - ZPAIR_IN_DISCONNECTED when it disconnects.
 * Writes are copied into a few buffers (CONFIG_ZPAIR_BLE_RX_BUFFERS): when the zpair thread
 * falls that far behind, a fragment is dropped (logged), which the reassembler sees as a
 * sequence error.
 *
 * Notification flow control stays in C: zpair_ble_notify() copies the fragment into a queue
 * (CONFIG_ZPAIR_BLE_TX_QUEUE_SIZE bytes, enough for two 512-byte packets at MTU 23) and
 * returns; the system work queue sends one notification at a time, the next one when the host
 * reports the previous one sent (ZPAIR_BLE_EVT_SENT), and retries a moment later when the host
 * is out of buffers. The queue is emptied when the app disconnects.
 */

/**
 * Starts advertising the zpair service: the 12-bit discriminator, the pairing state
 * (PairState code), the product id and the protocol version go into the service data.
 * Registers the backend callback on first use (bt_enable when needed).
 */
int zpair_ble_start(uint16_t discriminator, uint8_t state, uint32_t product, uint8_t version);
/** Stops advertising (a connected app stays connected). */
int zpair_ble_stop(void);
/**
 * Queues one GATT fragment data[0..len) (len <= MTU - 3) for notification on conn.
 * -ENOTCONN: conn is not the connected app; -EMSGSIZE: longer than the MTU allows;
 * -ENOBUFS: the queue is full (the packet is lost: end the session).
 */
int zpair_ble_notify(uint32_t conn, const uint8_t *data, size_t len);
/** The ATT MTU of conn (23 when unknown). Any thread. */
uint16_t zpair_ble_mtu(uint32_t conn);
/**
 * Disconnects conn (ZPAIR_IN_DISCONNECTED follows) once the notifications queued for it are
 * sent (an alert before a refusal), at most 2 s later.
 */
int zpair_ble_disconnect(uint32_t conn);

/* ------------------------------------------------------------------------------------------ */
/* Cellular backend                                                                            */
/* ------------------------------------------------------------------------------------------ */

/*
 * shim/zpair_cellular.c: the modem is the network of ZPAIR_MODE_CELLULAR: zpair_net_connect /
 * _status / _disconnect(ZPAIR_MODE_CELLULAR) attach and detach it (zpair_cellular_modem_attach
 * / _detach of zpair/shim_backends.h). Attach outcomes arrive as ZPAIR_IN_NET inputs: arg
 * ZPAIR_NET_UP, or ZPAIR_NET_ERROR(ZPAIR_ERR_SIM_MISSING / _REGISTRATION_DENIED /
 * _ATTACH_TIMEOUT / _MODEM_FAILURE) (the modem keeps trying: ZPAIR_NET_UP may follow), or
 * ZPAIR_NET_ERROR(ZPAIR_ERR_LINK_LOST) when an attached network went down.
 */

/**
 * Shows the setup payload (the text of the QR code, "ZP:..."): printed on the console with
 * printk, never through the log (it carries the setup code). The glue prints the QR code
 * itself right after (zpair_print). A device with a display draws it here instead.
 */
int zpair_cellular_show_payload(const char *payload, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Pairing button and status LED (devicetree node compatible "zpair,pairing")                  */
/* ------------------------------------------------------------------------------------------ */

/** LED patterns for zpair_indicate(). */
#define ZPAIR_LED_OFF     0 /* not pairing, not activated */
#define ZPAIR_LED_WINDOW  1 /* slow blink: the pairing window is open */
#define ZPAIR_LED_BUSY    2 /* fast blink: a pairing is in progress */
#define ZPAIR_LED_ON      3 /* steady: activated */

/**
 * Shows a state on the zpair,pairing LED (no-op without one). The button of that node posts
 * ZPAIR_IN_BUTTON inputs by itself (short press: arg 0, held for long-press-ms: arg 1).
 */
void zpair_indicate(uint8_t pattern);

/* ------------------------------------------------------------------------------------------ */
/* The cloud link: one HTTP/1.1 POST                                                           */
/* ------------------------------------------------------------------------------------------ */

/**
 * POSTs body[0..body_len) with Content-Type application/cbor to path on host:port (host NULL
 * or host_len 0: CONFIG_ZPAIR_CLOUD_HOST; port 0: CONFIG_ZPAIR_CLOUD_PORT), over TLS with the
 * CA of CONFIG_ZPAIR_CLOUD_CA_TAG when CONFIG_ZPAIR_CLOUD_TLS. Writes min(body length, cap) bytes
 * of the response body into resp, its length into *resp_len and the HTTP status into *status.
 * Errors: -EHOSTUNREACH/-ECONNREFUSED/-ETIMEDOUT/-ENETUNREACH (unreachable, DNS included),
 * -EACCES (TLS certificate not accepted), -EBADMSG (not HTTP), -EMSGSIZE (response too large).
 */
int zpair_cloud_post(const char *host, size_t host_len, uint16_t port, const char *path,
		     size_t path_len, const uint8_t *body, size_t body_len, uint8_t *resp,
		     size_t cap, size_t *resp_len, uint16_t *status);

#ifdef __cplusplus
}
#endif

#endif /* ZPAIR_SHIM_H_ */
