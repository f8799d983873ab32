/*
 * Copyright 2026 The Vestibule authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "vb-visit-private.h"

/*
 * Rewards: where loyalty hooks in. It is told of two moments of each visit
 * that moves money: when the hold is approved (after the door unlocked, so
 * nothing here is on the shopper's wait), and when the visit is settled (in
 * the transaction that records the settlement, so that points and the money
 * they come from commit together). Each time it gets the visit's customer id
 * (0 for a visit without a phone), its card token and the amount: the hold
 * approved, then the amount captured (0 for a cancelled hold).
 *
 * It does nothing yet. It may read the customers and write tables of its own
 * in the open transaction; it must not block, nor change the visit's state.
 */

void
vb_visit_rewards_approved(VbVisitManager *self, const VbVisitRewardsEvent *event)
{
	if (self->rewards_observer != NULL)
		self->rewards_observer(VB_VISIT_REWARDS_APPROVED, event,
				       self->rewards_observer_data);
}

gboolean
vb_visit_rewards_settled(VbVisitManager *self, const VbVisitRewardsEvent *event, GError **error)
{
	if (self->rewards_observer != NULL)
		self->rewards_observer(VB_VISIT_REWARDS_SETTLED, event,
				       self->rewards_observer_data);
	return TRUE;
}

void
vb_visit_rewards_set_observer(VbVisitManager *self,
			      VbVisitRewardsObserver observer,
			      gpointer user_data)
{
	g_return_if_fail(VB_IS_VISIT_MANAGER(self));
	self->rewards_observer = observer;
	self->rewards_observer_data = user_data;
}
