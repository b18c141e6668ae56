"""Technician workflows over USB: the serial link to a board (link), flashing MicroPython
(flashing), deploying the firmware (deploy), provisioning (provisioning), pulling the event
log (logpull). onboard/ holds the scripts that run on the device itself."""
