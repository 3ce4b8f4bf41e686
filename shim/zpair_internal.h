/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * Internal to the C shim: how backends feed the zpair thread.
 */
#ifndef ZPAIR_INTERNAL_H_
#define ZPAIR_INTERNAL_H_

#include <zephyr/kernel.h>
#include <zpair/shim.h>

/**
 * Queues an input for the zpair thread. A backend that hands over a buffer sets in->token to a
 * semaphore (struct k_sem *) and takes it after a successful post: zpair_input_release() gives
 * it once the zpair thread is done with the data.
 */
int zpair_input_post(const struct zpair_input *in, k_timeout_t timeout);

/** Whether the zpair thread runs (commands would otherwise never be answered). */
bool zpair_thread_running(void);

/** Shell side of a command: runs it on the zpair thread, printing its answer to sh. */
struct shell;
int zpair_cmd_run(const struct shell *sh, enum zpair_cmd cmd, uint32_t value, const uint8_t *data,
		  size_t len);

/*
 * Networks of the backends that own one (zpair_net.c dispatches to them):
 * - the Wi-Fi station of the SoftAP and BLE modes, shim/zpair_wifi.c (ZPAIR_HAVE_WIFI);
 * - the modem of the cellular mode, shim/zpair_cellular.c (ZPAIR_HAVE_CELLULAR).
 * Same contract as zpair_net_connect / _status / _disconnect; outcomes that arrive later are
 * posted as ZPAIR_IN_NET inputs with their mode.
 */
int zpair_wifi_connect(uint8_t mode, const struct zpair_wifi_params *wifi, uint32_t *ip4);
int zpair_wifi_status(uint32_t *ip4);
int zpair_wifi_disconnect(void);
/*
 * The one Wi-Fi radio (shim/zpair_wifi.c, shim/zpair_softap.c): zpair_wifi.c owns the backend's
 * event callback and hands the access point's and TCP events to zpair_softap_on_event(); the
 * station and the access point exclude each other (zpair_softap_yield() takes the AP down
 * before the station joins, zpair_wifi_yield() leaves the network before the AP starts).
 */
struct zpair_wifi_event;
int zpair_wifi_ready(void);
void zpair_wifi_yield(void);
void zpair_softap_on_event(const struct zpair_wifi_event *evt);
void zpair_softap_yield(void);
int zpair_cellular_attach(uint32_t *ip4);
int zpair_cellular_status(uint32_t *ip4);
int zpair_cellular_detach(void);

#endif /* ZPAIR_INTERNAL_H_ */
