/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * zpair's C shim: logging, time, randomness, the zpair thread, and the input queue that every
 * backend and the shell feed.
 */
#include <errno.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>
#include <zephyr/logging/log_ctrl.h>
#include <zephyr/random/random.h>
#include <zephyr/sys/printk.h>
#include <zephyr/sys/reboot.h>
#if defined(CONFIG_SHELL)
#include <zephyr/shell/shell.h>
#endif

#include "zpair_internal.h"

LOG_MODULE_REGISTER(zpair, CONFIG_ZPAIR_LOG_LEVEL);

uint8_t zpair_modes_enabled(void)
{
	/* Enabled in Kconfig and backed by a backend in this tree (see CMakeLists.txt). */
	return (IS_ENABLED(ZPAIR_HAVE_SOFTAP) ? BIT(ZPAIR_MODE_SOFTAP) : 0) |
	       (IS_ENABLED(ZPAIR_HAVE_BLE) ? BIT(ZPAIR_MODE_BLE) : 0) |
	       (IS_ENABLED(ZPAIR_HAVE_WIRED) ? BIT(ZPAIR_MODE_WIRED) : 0) |
	       (IS_ENABLED(ZPAIR_HAVE_CELLULAR) ? BIT(ZPAIR_MODE_CELLULAR) : 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Logging                                                                                     */
/* ------------------------------------------------------------------------------------------ */

#define ZPAIR_LOG_LINE 160

void zpair_log(int level, const char *msg, size_t len)
{
	char line[ZPAIR_LOG_LINE];

	if (msg == NULL) {
		len = 0;
	}
	len = MIN(len, sizeof(line) - 1);
	if (len > 0) {
		memcpy(line, msg, len);
	}
	line[len] = '\0';

	/* Deferred logging copies strings from RAM into the message, so line may be on the stack. */
	switch (level) {
	case ZPAIR_LOG_ERR:
		LOG_ERR("%s", line);
		break;
	case ZPAIR_LOG_WRN:
		LOG_WRN("%s", line);
		break;
	case ZPAIR_LOG_INF:
		LOG_INF("%s", line);
		break;
	default:
		LOG_DBG("%s", line);
		break;
	}
}

void zpair_print(const char *msg, size_t len)
{
	if (msg == NULL || len == 0) {
		printk("\n");
		return;
	}
	printk("%.*s\n", (int)MIN(len, (size_t)INT16_MAX), msg);
}

void zpair_log_flush(void)
{
#if defined(CONFIG_LOG_MODE_DEFERRED)
	while (log_data_pending()) {
		k_msleep(1);
	}
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Time, randomness, system                                                                    */
/* ------------------------------------------------------------------------------------------ */

int64_t zpair_uptime_ms(void)
{
	return k_uptime_get();
}

uint32_t zpair_cycles(void)
{
	return k_cycle_get_32();
}

uint32_t zpair_cycles_per_sec(void)
{
	return (uint32_t)sys_clock_hw_cycles_per_sec();
}

int zpair_random(void *dst, size_t len)
{
	if (len == 0) {
		return 0;
	}
	if (dst == NULL) {
		return -EINVAL;
	}
	return sys_csrand_get(dst, len);
}

void zpair_sleep_ms(int32_t ms)
{
	k_msleep(ms);
}

int zpair_reboot(void)
{
#if defined(CONFIG_REBOOT)
	zpair_log_flush();
	sys_reboot(SYS_REBOOT_WARM);
	return 0;
#else
	return -ENOTSUP;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* The zpair thread                                                                            */
/* ------------------------------------------------------------------------------------------ */

K_THREAD_STACK_DEFINE(zpair_stack, CONFIG_ZPAIR_THREAD_STACK_SIZE);
static struct k_thread zpair_thread;
static atomic_t zpair_started;

static void zpair_thread_main(void *p1, void *p2, void *p3)
{
	void (*entry)(void *arg) = (void (*)(void *))p1;

	ARG_UNUSED(p3);
	entry(p2);
	LOG_ERR("zpair thread returned");
	atomic_clear(&zpair_started);
}

int zpair_thread_start(void (*entry)(void *arg), void *arg)
{
	if (entry == NULL) {
		return -EINVAL;
	}
	if (!atomic_cas(&zpair_started, 0, 1)) {
		return -EALREADY;
	}
	k_thread_create(&zpair_thread, zpair_stack, K_THREAD_STACK_SIZEOF(zpair_stack),
			zpair_thread_main, (void *)entry, arg, NULL,
			K_PRIO_PREEMPT(CONFIG_ZPAIR_THREAD_PRIORITY), 0, K_NO_WAIT);
	k_thread_name_set(&zpair_thread, "zpair");
	return 0;
}

int zpair_thread_stack_unused(size_t *unused, size_t *size)
{
	if (unused == NULL || size == NULL) {
		return -EINVAL;
	}
	*size = K_THREAD_STACK_SIZEOF(zpair_stack);
	*unused = 0;
#if defined(CONFIG_INIT_STACKS) && defined(CONFIG_THREAD_STACK_INFO) && !defined(CONFIG_ARCH_POSIX)
	/* (POSIX architectures run threads on host stacks: nothing to measure there.) */
	if (!zpair_thread_running()) {
		return -ESRCH;
	}
	return k_thread_stack_space_get(&zpair_thread, unused);
#else
	return -ENOTSUP;
#endif
}

bool zpair_thread_running(void)
{
	return atomic_get(&zpair_started) != 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The input queue                                                                             */
/* ------------------------------------------------------------------------------------------ */

K_MSGQ_DEFINE(zpair_inputs, sizeof(struct zpair_input), CONFIG_ZPAIR_INPUT_QUEUE_LEN, 4);

int zpair_input_post(const struct zpair_input *in, k_timeout_t timeout)
{
	int rc = k_msgq_put(&zpair_inputs, in, timeout);

	if (rc != 0) {
		LOG_WRN("input queue full, input %u dropped", in->kind);
		return -ENOSPC;
	}
	return 0;
}

int zpair_input_wait(int32_t timeout_ms, struct zpair_input *in)
{
	k_timeout_t t = timeout_ms < 0 ? K_FOREVER : K_MSEC(timeout_ms);

	if (in == NULL) {
		return -EINVAL;
	}
	if (k_msgq_get(&zpair_inputs, in, t) != 0) {
		return -EAGAIN;
	}
	return 0;
}

void zpair_input_release(const struct zpair_input *in)
{
	if (in != NULL && in->token != NULL) {
		k_sem_give((struct k_sem *)in->token);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Commands                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * One command at a time. The context lives here, not on the shell's stack, so that a command
 * the shell stopped waiting for (timeout) can still be finished by the zpair thread safely: its
 * output is then dropped.
 */
struct zpair_cmd_ctx {
	const struct shell *sh; /* NULL once abandoned or for requests without output */
	int rc;
	bool busy;
	struct k_sem done;
};

static struct zpair_cmd_ctx cmd_ctx = {
	.done = Z_SEM_INITIALIZER(cmd_ctx.done, 0, 1),
};
K_MUTEX_DEFINE(cmd_lock);
static uint8_t cmd_data[CONFIG_ZPAIR_CMD_DATA_MAX];

#define ZPAIR_CMD_TIMEOUT K_SECONDS(60)

void zpair_cmd_print(void *ctx, const char *msg, size_t len)
{
	struct zpair_cmd_ctx *c = ctx;

	if (c == NULL) {
		return;
	}
	k_mutex_lock(&cmd_lock, K_FOREVER);
#if defined(CONFIG_SHELL)
	if (c->sh != NULL) {
		shell_print(c->sh, "%.*s", (int)MIN(len, (size_t)INT16_MAX), msg == NULL ? "" : msg);
	}
#else
	ARG_UNUSED(msg);
	ARG_UNUSED(len);
#endif
	k_mutex_unlock(&cmd_lock);
}

void zpair_cmd_done(void *ctx, int rc)
{
	struct zpair_cmd_ctx *c = ctx;

	if (c == NULL) {
		return;
	}
	k_mutex_lock(&cmd_lock, K_FOREVER);
	c->rc = rc;
	c->busy = false;
	/* The data buffer is free again. */
	k_sem_give(&c->done);
	k_mutex_unlock(&cmd_lock);
}

int zpair_cmd_run(const struct shell *sh, enum zpair_cmd cmd, uint32_t value, const uint8_t *data,
		  size_t len)
{
	struct zpair_input in = {
		.kind = ZPAIR_IN_COMMAND,
		.arg = (int32_t)cmd,
		.conn = value,
		.ctx = &cmd_ctx,
	};
	int rc;

	if (!zpair_thread_running()) {
		return -ENODEV;
	}
	if (len > sizeof(cmd_data)) {
		return -E2BIG;
	}
	k_mutex_lock(&cmd_lock, K_FOREVER);
	if (cmd_ctx.busy) {
		/* An abandoned command is still running. */
		k_mutex_unlock(&cmd_lock);
		return -EBUSY;
	}
	cmd_ctx.busy = true;
	cmd_ctx.sh = sh;
	cmd_ctx.rc = 0;
	k_sem_reset(&cmd_ctx.done);
	if (len > 0) {
		memcpy(cmd_data, data, len);
		in.data = cmd_data;
		in.len = (uint16_t)len;
	}
	k_mutex_unlock(&cmd_lock);

	rc = zpair_input_post(&in, K_MSEC(100));
	if (rc != 0) {
		k_mutex_lock(&cmd_lock, K_FOREVER);
		cmd_ctx.busy = false;
		cmd_ctx.sh = NULL;
		k_mutex_unlock(&cmd_lock);
		return rc;
	}
	rc = k_sem_take(&cmd_ctx.done, ZPAIR_CMD_TIMEOUT);
	k_mutex_lock(&cmd_lock, K_FOREVER);
	cmd_ctx.sh = NULL;
	if (rc == 0) {
		rc = cmd_ctx.rc;
	} else {
		rc = -ETIMEDOUT; /* busy stays set until the zpair thread finishes it */
	}
	k_mutex_unlock(&cmd_lock);
	return rc;
}

int zpair_request(enum zpair_cmd cmd, uint32_t value)
{
	struct zpair_input in = {
		.kind = ZPAIR_IN_COMMAND,
		.arg = (int32_t)cmd,
		.conn = value,
	};

	if (cmd == ZPAIR_CMD_FACTORY) {
		return -EINVAL;
	}
	return zpair_input_post(&in, K_NO_WAIT);
}
