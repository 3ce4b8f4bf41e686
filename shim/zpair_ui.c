/*
 * Copyright (c) 2026 zpair developers
 * SPDX-License-Identifier: Apache-2.0
 *
 * The pairing button and status LED of the devicetree node compatible "zpair,pairing"
 * (dts/bindings/zpair,pairing.yaml). Both are optional properties of the node.
 */
#include <errno.h>

#include <zephyr/device.h>
#include <zephyr/devicetree.h>
#include <zephyr/drivers/gpio.h>
#include <zephyr/init.h>
#include <zephyr/kernel.h>
#include <zephyr/logging/log.h>

#include "zpair_internal.h"

LOG_MODULE_DECLARE(zpair, CONFIG_ZPAIR_LOG_LEVEL);

#define UI_NODE DT_COMPAT_GET_ANY_STATUS_OKAY(zpair_pairing)

#define LED_SLOW_MS 500
#define LED_FAST_MS 100

/* ---- LED ---- */

#if DT_NODE_HAS_PROP(UI_NODE, led_gpios)
static const struct gpio_dt_spec led = GPIO_DT_SPEC_GET(UI_NODE, led_gpios);
static uint8_t led_pattern;
static bool led_level;

static void led_tick(struct k_timer *t)
{
	ARG_UNUSED(t);
	led_level = !led_level;
	(void)gpio_pin_set_dt(&led, led_level);
}

K_TIMER_DEFINE(led_timer, led_tick, NULL);

void zpair_indicate(uint8_t pattern)
{
	if (pattern == led_pattern || !gpio_is_ready_dt(&led)) {
		return;
	}
	led_pattern = pattern;
	k_timer_stop(&led_timer);
	switch (pattern) {
	case ZPAIR_LED_WINDOW:
		k_timer_start(&led_timer, K_NO_WAIT, K_MSEC(LED_SLOW_MS));
		break;
	case ZPAIR_LED_BUSY:
		k_timer_start(&led_timer, K_NO_WAIT, K_MSEC(LED_FAST_MS));
		break;
	case ZPAIR_LED_ON:
		led_level = true;
		(void)gpio_pin_set_dt(&led, 1);
		break;
	default:
		led_level = false;
		(void)gpio_pin_set_dt(&led, 0);
		break;
	}
}

static int led_init(void)
{
	if (!gpio_is_ready_dt(&led)) {
		LOG_WRN("pairing LED not ready");
		return 0;
	}
	return gpio_pin_configure_dt(&led, GPIO_OUTPUT_INACTIVE);
}
#else
void zpair_indicate(uint8_t pattern)
{
	ARG_UNUSED(pattern);
}

static int led_init(void)
{
	return 0;
}
#endif /* led-gpios */

/* ---- button ---- */

#if DT_NODE_HAS_PROP(UI_NODE, button_gpios)
static const struct gpio_dt_spec button = GPIO_DT_SPEC_GET(UI_NODE, button_gpios);
static struct gpio_callback button_cb;
static int64_t pressed_at;
static bool long_sent;

static void post_button(int32_t long_press)
{
	struct zpair_input in = {
		.kind = ZPAIR_IN_BUTTON,
		.arg = long_press,
	};

	(void)zpair_input_post(&in, K_NO_WAIT);
}

static void long_press_expired(struct k_work *work)
{
	ARG_UNUSED(work);
	if (gpio_pin_get_dt(&button) > 0) {
		long_sent = true;
		LOG_INF("button held: factory reset");
		post_button(1);
	}
}

K_WORK_DELAYABLE_DEFINE(long_press_work, long_press_expired);

static void button_changed(const struct device *port, struct gpio_callback *cb, uint32_t pins)
{
	ARG_UNUSED(port);
	ARG_UNUSED(cb);
	ARG_UNUSED(pins);

	if (gpio_pin_get_dt(&button) > 0) {
		pressed_at = k_uptime_get();
		long_sent = false;
		(void)k_work_reschedule(&long_press_work, K_MSEC(DT_PROP(UI_NODE, long_press_ms)));
	} else {
		(void)k_work_cancel_delayable(&long_press_work);
		/* 50 ms debounce; a long press was already reported. */
		if (!long_sent && k_uptime_get() - pressed_at > 50) {
			post_button(0);
		}
	}
}

static int button_init(void)
{
	int rc;

	if (!gpio_is_ready_dt(&button)) {
		LOG_WRN("pairing button not ready");
		return 0;
	}
	rc = gpio_pin_configure_dt(&button, GPIO_INPUT);
	if (rc == 0) {
		rc = gpio_pin_interrupt_configure_dt(&button, GPIO_INT_EDGE_BOTH);
	}
	if (rc == 0) {
		gpio_init_callback(&button_cb, button_changed, BIT(button.pin));
		rc = gpio_add_callback(button.port, &button_cb);
	}
	if (rc != 0) {
		LOG_WRN("pairing button unavailable (%d)", rc);
	}
	return 0;
}
#else
static int button_init(void)
{
	return 0;
}
#endif /* button-gpios */

static int zpair_ui_init(void)
{
	(void)led_init();
	return button_init();
}

SYS_INIT(zpair_ui_init, APPLICATION, CONFIG_APPLICATION_INIT_PRIORITY);
