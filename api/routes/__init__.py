"""The app's routers, one module per audience: Twilio's webhooks, payments (Stripe's webhook and the pages
behind the links debtors tap), the sandbox checkout and the demo chat (development only), and health.

Routes stay thin: they parse and answer HTTP and call bot/ (and payments/); what they need comes through the
`Annotated` dependencies in api/deps.py (`DbSession`, `GatewayDep`, `TransportDep`).
"""
