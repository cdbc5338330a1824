// The dashboard served at GET /: one self-contained HTML page (plain HTML, CSS and JS, no
// build step) compiled into the binary. It lists the jobs with live status, streams a
// job's event timeline over SSE, and shows its diff (coloured) and report. It calls the API
// with the bearer token the user enters (kept in sessionStorage; "#token=..." in the URL
// also works, and is never sent to the server).
#pragma once

namespace nagent::serve {

const char* dashboard_html();

}  // namespace nagent::serve
