/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define __VESTIBULE_H_INSIDE__

#include "vb-bus.h"
#include "vb-card-reader.h"
#include "vb-context.h"
#include "vb-display.h"
#include "vb-door-lock.h"
#include "vb-error.h"
#include "vb-event.h"
#include "vb-events.h"
#include "vb-http-server.h"
#include "vb-i18n.h"
#include "vb-keypad.h"
#include "vb-loyalty-partner.h"
#include "vb-metrics.h"
#include "vb-money.h"
#include "vb-payment-processor.h"
#include "vb-plugin.h"
#include "vb-privacy.h"
#include "vb-secure.h"
#include "vb-setting.h"
#include "vb-sms-provider.h"
#include "vb-store.h"
#include "vb-version.h"

#undef __VESTIBULE_H_INSIDE__
