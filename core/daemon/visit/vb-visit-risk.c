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
 * The tap-to-unlock path waits for it: a rule may read the request, the
 * manager's settings and the store (through a cached statement), but must
 * not write, allocate on every tap, nor wait for the network.
 *
 * It is a list of rules, each a VbVisitRiskRule, asked in the order they
 * were added; the first that denies decides. Today the list is empty and
 * every visit is allowed: the throttles that exist belong to the steps they
 * guard (the one-time code's rate limit is the customers', in verify; the
 * bounds of an order are settle's). Rules such as a card on the not-allowed
 * list, or a card's spend over a day, are added here.
 */

struct _VbVisitRiskEntry {
	VbVisitRiskRule rule;
	gpointer user_data;
};

void
vb_visit_risk_add_rule(VbVisitManager *self, VbVisitRiskRule rule, gpointer user_data)
{
	VbVisitRiskEntry entry = {rule, user_data};

	g_return_if_fail(VB_IS_VISIT_MANAGER(self));
	g_return_if_fail(rule != NULL);

	if (self->risk_rules == NULL)
		self->risk_rules = g_array_new(FALSE, FALSE, sizeof(VbVisitRiskEntry));
	g_array_append_val(self->risk_rules, entry);
}

VbVisitRiskVerdict
vb_visit_risk_check(VbVisitManager *self,
		    const VbVisitRiskRequest *request,
		    VbVisitRiskRefusal *refusal)
{
	g_return_val_if_fail(VB_IS_VISIT_MANAGER(self), VB_VISIT_RISK_DENY);
	g_return_val_if_fail(request != NULL, VB_VISIT_RISK_DENY);
	g_return_val_if_fail(refusal != NULL, VB_VISIT_RISK_DENY);

	for (guint i = 0; self->risk_rules != NULL && i < self->risk_rules->len; i++) {
		const VbVisitRiskEntry *entry =
		    &g_array_index(self->risk_rules, VbVisitRiskEntry, i);

		if (entry->rule(self, request, refusal, entry->user_data) == VB_VISIT_RISK_DENY) {
			/* a rule that forgot to say why still leaves a reason behind */
			if (refusal->reason == NULL)
				refusal->reason = "refused by a risk rule";
			return VB_VISIT_RISK_DENY;
		}
	}
	return VB_VISIT_RISK_ALLOW;
}
