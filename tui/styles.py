"""The wizard's stylesheet (a module, so that it ships with the package without package-data)."""

CSS = """
Screen { layout: vertical; }
/* a scrollbar takes its own column: text never runs under it (it did in the chat panes at 80 columns) */
VerticalScroll { scrollbar-gutter: stable; scrollbar-size-vertical: 1; }
.step-title { text-style: bold; color: $accent; padding: 0 1; height: auto; }
.hint { color: $text-muted; padding: 0 1; height: auto; }
.body { padding: 0 1; height: 1fr; }
.row { height: auto; }
.label { width: auto; padding: 1 1 0 0; }
.warn { color: $warning; padding: 0 1; height: auto; }
.error { color: $error; padding: 0 1; height: auto; }
.ok { color: $success; padding: 0 1; height: auto; }
.loading { color: $warning; text-style: bold; padding: 0 1; height: auto; }
.nav { height: 1; padding: 0 1; }
.nav Button { margin-right: 1; min-width: 10; }
Input { width: 1fr; }
TickBox { height: auto; width: 1fr; }  /* a long label wraps instead of being cut at 80 columns */
DataTable { height: auto; max-height: 12; }
#models { height: 1fr; max-height: 12; min-height: 4; }  /* gives way on a short terminal: the input stays seen */
#model-body #custom { margin: 0 0 1 0; }

#welcome { padding: 0 1; }
#title { text-style: bold; color: $accent; }
#intro { color: $text-muted; margin-bottom: 1; }
#actions { height: auto; max-height: 6; margin-bottom: 1; }
#runs-title { text-style: bold; }
#runs { height: 1fr; max-height: 100; }

.section { text-style: bold; color: $accent; padding: 0 1; margin-top: 1; height: auto; }
.clabel { width: auto; padding: 0 1; }

/* data */
#mapping-box { height: auto; display: none; border: round $warning; padding: 0 1; }
#mapping-box.-shown { display: block; }
#mapping-grid { height: auto; grid-size: 4; grid-columns: auto 1fr auto 1fr; grid-gutter: 0 1; }
#mapping-box .row { margin-top: 1; }
Checkbox.choice { border: none; padding: 0 1; height: 1; background: transparent; }
Checkbox.choice:focus { border: none; }
#rendered { border: round $panel; height: auto; max-height: 14; padding: 0 1; }
#seq, #ratio { width: 8; margin-right: 1; }
#target { width: 28; }
#path { margin: 0 1; }
#save-path { width: 1fr; margin: 0 1; }
#hist { height: auto; padding: 0 1; }
#data-format { padding: 0 1; }

/* dashboard */
#dash-top { height: 1fr; min-height: 8; }
#chart { width: 2fr; min-width: 30; }
#side { width: 1fr; min-width: 26; height: 100%; padding: 0 1; }
#progress-row { height: 1; padding: 0 1; }
#progress { width: 1fr; }
#phase { width: 1fr; color: $warning; }
#events { height: 6; border-top: solid $panel; padding: 0 1; }

/* chat */
#chat-body { height: 1fr; }
#chat-main { width: 1fr; }
#panes { height: 1fr; }
.pane { width: 1fr; height: 100%; padding: 0 1; border: round $panel; border-title-color: $accent; }
.msg-user { color: $accent; margin-top: 1; }
.msg-assistant { margin-bottom: 0; }
.msg-assistant.copied { color: $text-muted; }
#chat-side { width: 30; height: 100%; padding: 0 1; border-left: solid $panel; }
#chat-side Input { width: 100%; margin-bottom: 0; }
.slabel { color: $text-muted; margin-top: 1; }
.knob { height: 1; }
.knob Label { width: 19; color: $text-muted; }
.knob Input { width: 1fr; }
#report-body { height: 1fr; padding: 0 1; }

/* plan */
#plan-scroll { height: 1fr; }
PlanView { height: auto; }
#knobs { height: auto; grid-size: 4; grid-columns: auto 1fr auto 1fr; grid-gutter: 0 1; padding: 0 1; }
#knobs Label { padding-top: 0; }

HelpScreen, ConfirmScreen { align: center middle; }
#help-box, #confirm-box { width: 76; max-width: 95%; height: auto; max-height: 90%; border: round $accent;
  padding: 1 2; background: $surface; }
#eta { width: 44; }
#gguf-types { height: auto; max-height: 7; }
#commands { height: auto; max-height: 10; }  /* the destination stays on screen at 80×24 */
#progress Bar { width: 1fr; }
"""
