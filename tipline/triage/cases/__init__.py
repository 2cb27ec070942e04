"""The cases area of the internal site: a confirmed tip followed through verification,
handover, filing, penalty, referral to the police, prosecution and judgment (domain.md
section 5), with its clocks and statutory documents.

``lifecycle`` declares the transitions, ``services`` applies them, ``clocks`` keeps the
case's time limits, ``numbers`` gives case numbers and ``documents`` makes the papers."""
