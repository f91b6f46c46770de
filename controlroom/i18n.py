"""Danish and English words for the page. The language is `?lang=` (remembered in a cookie), else the config."""

from __future__ import annotations

LANGUAGES = ("da", "en")

TEXT: dict[str, dict[str, str]] = {
    "da": {
        "title": "Kontrolrum", "alerts": "Alarmer", "cameras": "Kameraer", "statistics": "Statistik",
        "users": "Brugere", "logout": "Log ud", "login": "Log ind", "user": "Bruger", "password": "Adgangskode",
        "login_failed": "Forkert bruger eller adgangskode.",
        "login_throttled": "For mange forsøg. Prøv igen om {s} sekunder.",
        "session_expired": "Sessionen er udløbet. Log ind igen.",
        "banner": "DRUKNEALARM", "banner_drill": "ØVELSE", "alarm_note": "Alarmen lyder til den er kvitteret.",
        "paging_trouble": "SMS og opkald fejler: Twilio svarer ikke siden {since} ({error}). {owed} besked(er) "
                          "sendes igen, til de er leveret eller kvitteret. Ring selv til politi og redning.",
        "enable_sound": "Slå lyd til", "sound_on": "Lyd til", "no_open_alerts": "Ingen åbne alarmer.",
        "acknowledge": "Kvittér", "close_as": "Luk som", "resolved": "Afsluttet", "false_alarm": "Falsk alarm",
        "drill": "Øvelse", "real_incident": "Reel hændelse", "note": "Note", "add_note": "Tilføj note",
        "state": "Tilstand", "camera": "Kamera", "time": "Tid", "paged": "Kaldt", "delivery": "Levering",
        "clip": "Klip", "map": "Kort", "evidence": "Billede", "history": "Seneste alarmer",
        "acked_by": "Kvitteret af", "audit": "Forløb", "export_fixture": "Eksportér som testoptagelse",
        "state_new": "ny", "state_paged": "kaldt", "state_acknowledged": "kvitteret", "state_resolved": "afsluttet",
        "state_closed": "lukket", "online": "online", "degraded": "nedsat", "offline": "offline",
        "fps": "billeder/s", "last_frame": "Seneste billede", "seconds_ago": "{s} s siden", "live": "Live",
        "reason": "Årsag", "service_trouble": "Alarmtjenesten har problemer",
        "late_events": "Forsinkede hændelser (gemt, ikke kaldt: billedet var for gammelt ved ankomst)",
        "received": "modtaget", "month": "Måned", "site": "Sted", "alerts_count": "Alarmer",
        "real_incidents": "Reelle hændelser", "false_alarms": "Falske alarmer", "camera_hours": "Kameratimer",
        "fa_per_camera_hour": "Falske alarmer pr. kameratime", "time_to_delivery": "Tid til levering (median)",
        "time_to_ack": "Tid til kvittering (median)", "download_csv": "Hent CSV", "connection_lost":
        "Forbindelsen er tabt – prøver igen …", "role": "Rolle", "add_user": "Tilføj bruger",
        "viewer_readonly": "Du kan se, men ikke handle (rolle: læser).", "action_failed": "Handlingen mislykkedes",
        "no_data": "Ingen data endnu.", "operator": "Operatør", "language": "English",
        "camera_offline": "KAMERA OFFLINE", "self_test_failed": "SELVTEST FEJLET",
        "channel_sms": "SMS", "channel_voice": "opkald",
        "status_sending": "sendes", "status_queued": "i kø", "status_accepted": "modtaget", "status_sent": "sendt",
        "status_delivered": "leveret", "status_read": "læst", "status_undelivered": "ikke leveret",
        "status_failed": "fejlet", "status_unknown": "ukendt", "status_dry-run": "prøvekørsel",
        "status_expired": "forældet, ikke sendt",
        "status_ringing": "ringer", "status_in-progress": "i gang", "status_completed": "besvaret",
        "status_answered": "besvaret", "status_busy": "optaget", "status_no-answer": "intet svar",
        "status_canceled": "annulleret",
        "kind_water_entry": "faldt i vandet", "kind_person_in_water": "person i vandet",
        "kind_camera_offline": "kamera offline", "kind_camera_online": "kamera online igen",
        "kind_self_test_failed": "selvtest fejlet", "confidence": "sikkerhed {p} %",
        "crop": "Personen forstørret", "entry_here": "her gik personen i vandet",
        "position_ground": "Personens position",
        "position_camera": "Kameraets position – personen er inden for ca. {m} m",
        "last_seen": "Sidst set", "never_seen": "aldrig set", "ago_s": "for {n} s siden",
        "ago_min": "for {n} min siden", "ago_h": "for {n} timer siden", "ago_days": "for {n} dage siden",
        "reason_no_answer": "kameraet svarer ikke", "reason_refused_login": "kameraet afviser brugernavn eller adgangskode",
        "reason_edge_silent": "kameraets computer (edge) svarer ikke",
        "reason_no_status_yet": "intet hørt fra kameraet endnu", "reason_frozen": "billedet står stille",
        "reason_clip_ended": "optagelsen er slut", "reason_no_frames": "ingen billeder fra kameraet",
        "reason_fault": "kameraet har en fejl (se edge-loggen)",
        "via_controlroom": "kontrolrum", "note_acked_on_page": "kvitteret på kontrolrumssiden",
        "note_sms_reply": "kvitteret med svar på SMS", "note_camera_too": "kamera {cam} så det også",
        "note_camera_back": "kamera {cam} er online igen", "note_event": "{what} på {cam}",
        "note_step": "trin {step}/{steps}, runde {round}: {channel} til {to}: {sent} sendt, {failed} fejlet",
        "actor_intake": "modtagelse", "actor_escalation": "eskalering",
    },
    "en": {
        "title": "Control room", "alerts": "Alerts", "cameras": "Cameras", "statistics": "Statistics",
        "users": "Users", "logout": "Log out", "login": "Log in", "user": "User", "password": "Password",
        "login_failed": "Wrong user or password.",
        "login_throttled": "Too many attempts. Try again in {s} seconds.",
        "session_expired": "Your session has expired. Log in again.",
        "banner": "DROWNING ALERT", "banner_drill": "DRILL", "alarm_note": "The alarm sounds until acknowledged.",
        "paging_trouble": "Pages failing: Twilio unreachable since {since} ({error}). {owed} page(s) owed, "
                          "retried until delivered or acknowledged. Call police and rescue yourself.",
        "enable_sound": "Enable sound", "sound_on": "Sound on", "no_open_alerts": "No open alerts.",
        "acknowledge": "Acknowledge", "close_as": "Close as", "resolved": "Resolved", "false_alarm": "False alarm",
        "drill": "Drill", "real_incident": "Real incident", "note": "Note", "add_note": "Add note",
        "state": "State", "camera": "Camera", "time": "Time", "paged": "Paged", "delivery": "Delivery",
        "clip": "Clip", "map": "Map", "evidence": "Snapshot", "history": "Recent alerts",
        "acked_by": "Acknowledged by", "audit": "Audit trail", "export_fixture": "Export as test recording",
        "state_new": "new", "state_paged": "paged", "state_acknowledged": "acknowledged",
        "state_resolved": "resolved", "state_closed": "closed", "online": "online", "degraded": "degraded",
        "offline": "offline", "fps": "fps", "last_frame": "Last frame", "seconds_ago": "{s} s ago",
        "live": "Live", "reason": "Reason", "service_trouble": "The alerting service has trouble",
        "late_events": "Late events (stored, not paged: the frame was too old on arrival)", "received": "received",
        "month": "Month", "site": "Site", "alerts_count": "Alerts",
        "real_incidents": "Real incidents", "false_alarms": "False alarms", "camera_hours": "Camera-hours",
        "fa_per_camera_hour": "False alarms per camera-hour", "time_to_delivery": "Time to page delivery (median)",
        "time_to_ack": "Time to acknowledge (median)", "download_csv": "Download CSV",
        "connection_lost": "Connection lost – retrying …", "role": "Role", "add_user": "Add user",
        "viewer_readonly": "You can look but not act (role: viewer).", "action_failed": "The action failed",
        "no_data": "No data yet.", "operator": "Operator", "language": "Dansk",
        "camera_offline": "CAMERA OFFLINE", "self_test_failed": "SELF-TEST FAILED",
        "channel_sms": "SMS", "channel_voice": "call",
        "status_sending": "sending", "status_queued": "queued", "status_accepted": "accepted", "status_sent": "sent",
        "status_delivered": "delivered", "status_read": "read", "status_undelivered": "undelivered",
        "status_failed": "failed", "status_unknown": "unknown", "status_dry-run": "dry run",
        "status_expired": "expired, not sent",
        "status_ringing": "ringing", "status_in-progress": "in progress", "status_completed": "answered",
        "status_answered": "answered", "status_busy": "busy", "status_no-answer": "no answer",
        "status_canceled": "canceled",
        "kind_water_entry": "fell in", "kind_person_in_water": "person in the water",
        "kind_camera_offline": "camera offline", "kind_camera_online": "camera back online",
        "kind_self_test_failed": "self-test failed", "confidence": "confidence {p} %",
        "crop": "The person, enlarged", "entry_here": "the person went in here",
        "position_ground": "The person's position",
        "position_camera": "The camera's position – the person is within about {m} m",
        "last_seen": "Last seen", "never_seen": "never seen", "ago_s": "{n} s ago",
        "ago_min": "{n} min ago", "ago_h": "{n} hours ago", "ago_days": "{n} days ago",
        "reason_no_answer": "the camera does not answer", "reason_refused_login": "the camera refuses the user or password",
        "reason_edge_silent": "the camera's computer (edge) does not answer",
        "reason_no_status_yet": "nothing heard from the camera yet", "reason_frozen": "the picture is frozen",
        "reason_clip_ended": "the recording has ended", "reason_no_frames": "no pictures from the camera",
        "reason_fault": "the camera has a fault (see the edge log)",
        "via_controlroom": "control room", "note_acked_on_page": "acknowledged on the control-room page",
        "note_sms_reply": "acknowledged by an SMS reply", "note_camera_too": "camera {cam} saw it too",
        "note_camera_back": "camera {cam} is back online", "note_event": "{what} on {cam}",
        "note_step": "step {step}/{steps}, round {round}: {channel} to {to}: {sent} sent, {failed} failed",
        "actor_intake": "intake", "actor_escalation": "escalation",
    },
}

# Dispatch (issue 14): who acknowledged for which agency; maintenance windows.
TEXT["da"].update({
    "acked_for": "Kvitteret for", "agency_police": "politi", "agency_rescue": "redning",
    "agency_control_room": "alle (kontrolrum)", "agency_test": "test", "muted": "Lydløs",
    "maintenance": "Vedligehold", "mute_camera": "Gør kamera lydløst", "mute_reason": "Årsag",
    "mute_minutes": "Minutter", "mute_zone": "Zone (valgfri, JSON [[x,y],...])", "end_now": "Afslut nu",
    "muted_until": "lydløs til", "not_paged": "Ikke kaldt (vedligehold)",
})
TEXT["en"].update({
    "acked_for": "Acknowledged for", "agency_police": "police", "agency_rescue": "rescue",
    "agency_control_room": "all (control room)", "agency_test": "test", "muted": "Muted",
    "maintenance": "Maintenance", "mute_camera": "Mute camera", "mute_reason": "Reason",
    "mute_minutes": "Minutes", "mute_zone": "Zone (optional, JSON [[x,y],...])", "end_now": "End now",
    "muted_until": "muted until", "not_paged": "Not paged (maintenance)",
})


def pick_language(query: str | None, cookie: str | None, default: str) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return default


def texts(lang: str) -> dict[str, str]:
    return TEXT[lang]
