/** The loyalty tiers a customer can hold (`users.loyalty_tier`), lowest first. */
export const LOYALTY_TIERS = ['bronze', 'silver', 'gold', 'platinum'] as const;

export type LoyaltyTier = (typeof LOYALTY_TIERS)[number];
