/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-visit-private.h"

/*
 * Risk: the checks before money moves. The phase machine asks it once per
 * visit, after the shopper is identified (and proved, when asked to) and
 * before the hold is asked for; a refusal ends the visit as declined, with
 * its reason in the timeline and its prompt at the door, and no hold.
 *
 * It may read the request, the manager's settings and the store; it must not
 * write, block nor allocate, since the tap-to-unlock path waits for it.
 *
 * Today it has no rule: every visit is allowed. The throttles that exist
 * belong to the steps they guard: the one-time code's rate limit is the
 * customers' (verify), and the bounds of an order are settle's. Rules such
 * as a card's spend over a day go here, each a check that fills @refusal and
 * returns VB_VISIT_RISK_DENY.
 */

VbVisitRiskVerdict
vb_visit_risk_check(VbVisitManager *self,
		    const VbVisitRiskRequest *request,
		    VbVisitRiskRefusal *refusal)
{
	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), VB_VISIT_RISK_DENY);
	g_return_val_if_fail(request != NULL, VB_VISIT_RISK_DENY);
	g_return_val_if_fail(refusal != NULL, VB_VISIT_RISK_DENY);

	return VB_VISIT_RISK_ALLOW;
}
