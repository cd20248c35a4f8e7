// Prints the Stripe-Signature header that Stripe's own Node library makes for a payload, so the
// tests verify exactly what Stripe signs (tests/it/hooks_interop.rs).
// Usage: STRIPE_WEBHOOK_SECRET=whsec_… node stripe-sign.js <payload file> [<unix timestamp>]
'use strict';
const fs = require('fs');
const Stripe = require('stripe');

const stripe = new Stripe('sk_test_not_used_for_signing');
const options = {
  payload: fs.readFileSync(process.argv[2], 'utf8'),
  secret: process.env.STRIPE_WEBHOOK_SECRET,
};
if (process.argv[3]) {
  options.timestamp = Number(process.argv[3]);
}
process.stdout.write(stripe.webhooks.generateTestHeaderString(options));
