"""The demo and bulk seeding (`booking demo`, `booking seed`): built on booking_core, which never imports it."""
