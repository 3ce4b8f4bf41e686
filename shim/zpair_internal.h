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

#endif /* ZPAIR_INTERNAL_H_ */
