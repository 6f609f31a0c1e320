package main

// Hand-written sentence fragments, per tenant and topic, that gen combines
// into survey comments. They are synthetic and deliberately different from
// the training lines in testdata/models/*.tsv, so that the demo does not
// score the models on their own training data.

// acme: a B2B work-management SaaS with a web app, iOS/Android apps and
// integrations (Slack, Salesforce, Zapier, API, SSO...).
var acme = tenantSpec{
	name:   "acme",
	weight: 40,
	moods:  [3]int{45, 30, 25},
	topics: []topic{
		{"pricing", 10, []string{
			"The business plan is fairly priced for a team our size.",
			"We pay less than we did for our old tool and get more.",
			"Worth the money, easy to justify at budget time.",
			"Per seat cost is reasonable once you count the time it saves.",
			"Our finance lead was happy with the renewal terms.",
			"The startup discount helped a lot in our first year.",
			"Pricing is simple, no surprises.",
			"For an agency our size the pro tier is a good deal.",
		}, []string{
			"The renewal quote jumped by almost 40 percent.",
			"Seats get expensive once you pass 50 users.",
			"We had to drop viewers from the plan because of cost.",
			"Hard to justify the enterprise tier just for SSO and audit logs.",
			"Pricing keeps changing and each change costs us more.",
			"The cheapest plan is too limited to be useful for a real team.",
			"Paying full seats for people who look at one board twice a month feels wasteful.",
			"Getting a quote out of sales took three calls.",
			"Add-ons for automations and reporting make the real price much higher than advertised.",
			"Our budget got cut and Acme is first on the chopping block because of the price.",
		}},
		{"support", 10, []string{
			"Support got back to me within the hour with a clear answer.",
			"Our customer success manager checks in every month and actually helps.",
			"The support engineer jumped on a call and fixed our workflow.",
			"Chat support is quick and knows the product well.",
			"The team helped a lot when we restructured our workspaces.",
			"Every ticket I've raised has been handled professionally.",
			"Support explained the permission model better than the docs do.",
			"Shout out to Priya in support, she was brilliant.",
		}, []string{
			"Support replies take two or three days now.",
			"Our tickets get bounced between teams.",
			"The chatbot never understands what I'm asking.",
			"We lost our dedicated CSM and nobody replaced them.",
			"Support closed my ticket while I was on holiday.",
			"The answers from support feel copy-pasted.",
			"No phone support even on the business plan.",
			"I had to chase support four times about the same bug.",
		}},
		{"reliability", 10, []string{
			"Can't remember the last time Acme was down.",
			"Very stable for us, even during month-end crunch.",
			"No data issues in the three years we've used it.",
			"It runs reliably across all of our teams.",
			"Recent releases have been solid, no regressions that I noticed.",
		}, []string{
			"We had two outages this quarter during working hours.",
			"Task updates sometimes disappear after saving.",
			"Automations silently stopped running last week.",
			"Recurring tasks were created twice after the last release.",
			"The timeline view throws an error if a project has lots of dependencies.",
			"Comments vanished after the incident on Thursday.",
			"Some of our custom fields got wiped during the move to the new editor.",
			"Every other release seems to break the reporting page.",
			"Got logged out in the middle of editing and lost my changes.",
		}},
		{"performance", 8, []string{
			"The web app feels fast since the last update.",
			"Boards with hundreds of tasks still load quickly.",
			"Search results come back almost instantly.",
			"Dashboards render much quicker than they used to.",
			"It's snappy even on our older office laptops.",
		}, []string{
			"Large projects take ages to open.",
			"The workload view is painfully slow for teams over 30 people.",
			"Typing in task descriptions lags.",
			"Reports with a full year of data time out.",
			"The browser tab eats memory and slows my whole machine down.",
			"Switching between projects has a delay of several seconds.",
			"Loading the inbox first thing in the morning takes forever.",
			"The portfolio page crawls once you add more than a dozen projects.",
		}},
		{"usability", 10, []string{
			"The interface is clean and our team picked it up quickly.",
			"Everything is easy to find.",
			"Drag and drop planning is really intuitive.",
			"The new navigation makes a lot more sense.",
			"Even our less technical folks find it simple.",
			"Keyboard shortcuts make me so much faster.",
			"Nice clean layout, not overwhelming at all.",
		}, []string{
			"There are too many places to set permissions.",
			"Settings are scattered across three different menus.",
			"New users find the interface overwhelming.",
			"It takes too many clicks to move a task between projects.",
			"The difference between spaces, folders and lists confuses everyone.",
			"Filters reset every time I leave the page.",
			"The new sidebar wastes a lot of screen space.",
			"Notification settings are a maze.",
		}},
		{"features", 10, []string{
			"Automations have removed a lot of manual work for us.",
			"The new forms feature replaced a separate tool for us.",
			"Timeline and dependencies are exactly what our PMs wanted.",
			"The reporting dashboards give leadership what they need.",
			"Custom fields let us model our process properly.",
			"The AI summaries of long comment threads are surprisingly good.",
			"Recurring tasks and templates save us hours every week.",
		}, []string{
			"We still can't set permissions on individual tasks.",
			"Please add proper time tracking, we pay for a separate tool just for that.",
			"There's no baseline comparison in the timeline view.",
			"Reporting is too basic for a product at this price point.",
			"We really need dependencies across projects.",
			"Still waiting on the custom roles that were promised last year.",
			"No way to export a full project including comments.",
			"Would love client guest access with limited permissions.",
		}},
		{"billing", 6, []string{
			"Invoices are clear and come through on time.",
			"Switching to annual billing was straightforward.",
			"Updating our billing contact took a minute.",
			"The refund for our unused seats came through quickly.",
		}, []string{
			"We were billed for deactivated users again.",
			"Our invoice doesn't show the PO number we gave you.",
			"We got charged for the new plan before we confirmed the upgrade.",
			"Credit card is the only option on our plan and our finance team hates it.",
			"The prorated charges on our last invoice make no sense.",
			"Got a payment overdue email even though we paid on time.",
			"Invoices go to someone who left two years ago and we can't change it.",
		}},
		{"onboarding", 7, []string{
			"Our rollout was smooth thanks to the onboarding team.",
			"The setup checklist got us running in a day.",
			"The import from our spreadsheets worked first time.",
			"Training sessions for new staff were really useful.",
			"New hires figure it out in their first week.",
		}, []string{
			"Setting up our workspace structure took weeks of trial and error.",
			"The import from our old tool mangled all the dates.",
			"The getting started docs skip the admin setup steps.",
			"Our onboarding sessions were too generic for our use case.",
			"New team members need a lot of hand holding.",
			"Nobody told us we'd need an admin to configure permissions before inviting people.",
		}},
		{"integrations", 14, []string{
			"The Slack integration keeps everyone in the loop without extra meetings.",
			"Salesforce sync means sales and delivery finally see the same data.",
			"Our developers like how clean the API is.",
			"Zapier lets us connect Acme to everything else we use.",
			"SSO through Okta was set up in an afternoon.",
			"Webhooks make it easy to kick off our own automations.",
			"The Jira link saves our engineers from double entry.",
			"Google Drive attachments just work.",
		}, []string{
			"The Salesforce sync breaks whenever someone renames a field.",
			"Slack notifications are too noisy and hard to tune.",
			"API rate limits are too strict for our nightly exports.",
			"Webhooks sometimes arrive minutes late or not at all.",
			"SSO is locked behind the enterprise plan.",
			"The Teams integration is far behind the Slack one.",
			"Our Zapier zaps fail without any error message.",
			"Please add a native HubSpot connector.",
			"SCIM provisioning is still missing, so offboarding is manual.",
			"The Outlook add-in hasn't worked since the last update.",
		}},
		{"mobile-app", 13, []string{
			"The iOS app is great for quick updates between meetings.",
			"I mostly use the Android app on site and it works well.",
			"Being able to approve requests from my phone is a big win.",
			"The mobile app got much faster this year.",
			"Push notifications on my phone keep me on top of deadlines.",
			"The new mobile home screen is really well done.",
		}, []string{
			"The Android app crashes when I open a task with many attachments.",
			"The iPhone app logs me out constantly.",
			"Can't edit dependencies from the mobile app.",
			"Mobile notifications arrive hours late.",
			"The mobile app is missing most of the reporting features.",
			"The iPad app is just a blown up phone app.",
			"Offline changes in the mobile app don't sync reliably.",
			"The Android app feels sluggish on my Pixel.",
		}},
	},
	shortPos: []string{
		"Acme just works for us.", "Love it, keep it up!", "Great tool for our team.",
		"Best project tool we've used.", "Can't imagine working without it.",
		"Really solid product, thanks team.", "Does exactly what we need.",
	},
	shortNeg: []string{
		"Getting worse every release.", "Too expensive, too buggy.",
		"We are evaluating alternatives now.", "Not what we were promised.",
		"Frustrating to use every day.",
	},
	shortMid: []string{
		"It's fine, does the job.", "Mostly ok, nothing special.",
		"Decent but room to improve.", "Some good, some bad.",
	},
	closePos: []string{
		"Would recommend to other teams.", "Keep up the good work!",
		"Thanks for a great product.", "Happy customer overall.",
		"Our whole company relies on it now.",
	},
	closeNeg: []string{
		"Seriously thinking about switching.", "Please fix this.",
		"Really disappointed.", "Not sure we'll renew.", "Expected better for what we pay.",
	},
	closeMid: []string{
		"Overall it's ok.", "Room for improvement but we'll stay.",
		"Solid but not amazing.",
	},
	surveys: []string{"acme-nps-2026-q1", "acme-nps-2026-q2", "acme-nps-2026-q3", "acme-nps-2026-q4"},
	meta:    acmeMeta,
}

// globex: an online store (web and app).
var globex = tenantSpec{
	name:   "globex",
	weight: 32,
	moods:  [3]int{40, 25, 35},
	topics: []topic{
		{"delivery", 16, []string{
			"My package arrived a day earlier than promised.",
			"Delivery was fast and the tracking was accurate.",
			"Free next-day delivery is why I keep ordering here.",
			"The courier was friendly and left it exactly where I asked.",
			"Everything arrived well packed, nothing broken.",
			"Love the delivery time slots, I can plan my day around them.",
			"The parcel locker option is so convenient.",
			"Same-day delivery actually arrived the same day, impressive.",
		}, []string{
			"My order was marked delivered but never showed up.",
			"Delivery took almost two weeks.",
			"Tracking didn't update for five days.",
			"The box arrived crushed and two glasses were broken.",
			"The courier left my parcel out in the rain.",
			"Half my order came and the rest was just missing.",
			"The delivery window was the whole day, I couldn't leave the house.",
			"Way too much plastic packaging for one small item.",
			"The driver didn't even ring the bell, just left a card.",
			"My order got split into four deliveries on different days.",
		}},
		{"returns", 9, []string{
			"Returns were easy, I just dropped it off at the locker.",
			"Free returns make me confident ordering clothes.",
			"Exchanged a pair of shoes for a different size with no hassle.",
			"The return label was printable right from my account.",
		}, []string{
			"The return window is too short for gifts.",
			"I had to pay to send back a faulty item.",
			"Still waiting for my return to be processed after three weeks.",
			"The return portal wouldn't let me select the item I wanted to send back.",
			"They rejected my return saying it was used, it wasn't.",
		}},
		{"product", 12, []string{
			"The quality of the jacket is better than I expected.",
			"Products are exactly as described.",
			"Great selection of brands.",
			"Sizes run true, the size guide is spot on.",
			"The coffee maker I bought is excellent.",
			"The running shoes are super comfortable.",
			"The flowers I ordered lasted almost two weeks.",
		}, []string{
			"The item looked nothing like the photos.",
			"The blender stopped working after a week.",
			"Sizing is all over the place between brands.",
			"I received a used item sold as new.",
			"Cheap materials, the shirt fell apart after one wash.",
			"Half the things I want are always out of stock.",
			"The colour of the sofa cover was way off from the picture.",
			"Batteries in the toy were leaking when it arrived.",
		}},
		{"pricing", 9, []string{
			"Prices are competitive with the big marketplaces.",
			"Found some great deals in the clearance section.",
			"The loyalty discount adds up nicely.",
			"Good prices and frequent promo codes.",
			"The student discount is a nice touch.",
		}, []string{
			"Prices went up a lot compared to last year.",
			"The delivery fee makes small orders not worth it.",
			"The same item is cheaper on other sites.",
			"Sale prices are fake, they raise the price the week before.",
			"The membership costs too much for what it gives you.",
			"Promo codes never work on anything I actually want.",
		}},
		{"support", 9, []string{
			"The chat agent sorted out my missing item in minutes.",
			"Customer service sent a replacement without any fuss.",
			"Support was polite and refunded the shipping for the delay.",
			"The agent on the phone was very patient with me.",
			"The returns team called me to apologise, which I didn't expect.",
		}, []string{
			"Customer service just sends copy-paste answers.",
			"Nobody answers the phone.",
			"It took four emails to get a reply about my missing parcel.",
			"The chatbot can't handle anything beyond tracking a parcel.",
			"The agent promised a callback that never happened.",
			"Live chat said there were 40 people ahead of me in the queue.",
		}},
		{"usability", 8, []string{
			"The website is easy to browse and filter.",
			"The app makes reordering my usual stuff really quick.",
			"Checkout is simple and clear.",
			"Search finds what I want even when I misspell it.",
			"Reordering from my order history is one tap.",
		}, []string{
			"Filters on the website reset every time I go back.",
			"The app's search results are all over the place.",
			"Couldn't find where to change my delivery address.",
			"Too many popups on the website.",
			"Product pages are cluttered with ads for other products.",
			"The size chart is hidden at the bottom of the page.",
		}},
		{"performance", 6, []string{
			"The site is quick even on my old phone.",
			"The app loads fast and scrolling is smooth.",
		}, []string{
			"The website is very slow during sales.",
			"Product pages take ages to load the images.",
			"The app freezes for a few seconds when I open my basket.",
			"Checkout takes forever to process the payment.",
		}},
		{"reliability", 6, []string{
			"Never had a problem placing an order.",
			"The app has been rock solid for me.",
		}, []string{
			"The site crashed while I was paying.",
			"My basket emptied itself twice.",
			"The promo code gave an error at checkout.",
			"The app logged me out and lost my basket.",
			"Got an error page when trying to track my order.",
			"The app crashes every time I try to add a review.",
		}},
		{"billing", 8, []string{
			"My refund came back to my card within two days.",
			"Paying with Apple Pay is super fast.",
			"The buy now pay later option is really handy.",
		}, []string{
			"I was charged twice for one order.",
			"My refund has been pending for over two weeks.",
			"My gift card balance disappeared at checkout.",
			"They charged my card before the item even shipped.",
			"The refund was less than what I paid.",
			"Payment got declined but the money was taken anyway.",
			"They charged me shipping even though my basket was over the free delivery threshold.",
		}},
		{"features", 5, []string{
			"Love the wishlist and the price drop alerts.",
			"The subscribe and save option is brilliant.",
			"Virtual try-on for glasses was fun and actually helpful.",
			"Being able to pick a delivery slot at checkout is great.",
		}, []string{
			"Please add a way to combine orders placed on the same day.",
			"I wish I could filter by sustainable brands.",
			"Would love to save more than one delivery address.",
			"There's no way to leave a note for the courier.",
			"I'd love a dark mode in the app.",
		}},
		{"onboarding", 4, []string{
			"Creating an account took a minute.",
			"Guest checkout is great, no need to sign up.",
		}, []string{
			"Signing up asked for way too much personal info.",
			"Never got the verification email when creating my account.",
			"The welcome discount code didn't work on my first order.",
			"Linking my loyalty card to my new account took several tries.",
		}},
	},
	shortPos: []string{
		"Great shop, fast delivery.", "Always happy with my orders.", "Love shopping here!",
		"Quick and easy, thanks.", "Will order again.",
	},
	shortNeg: []string{
		"Never ordering again.", "Terrible experience this time.", "Where is my order??",
		"Worst delivery service ever.",
	},
	shortMid: []string{
		"Fine, nothing special.", "Order arrived, all ok.", "Average experience overall.",
	},
	closePos: []string{
		"Will definitely shop here again.", "Already told my sister about you.", "Keep it up!",
	},
	closeNeg: []string{
		"I'll be shopping elsewhere from now on.", "Very disappointed as a long time customer.",
		"Sort it out please.",
	},
	closeMid: []string{
		"Not bad overall.", "Would order again if the price is right.",
	},
	surveys: []string{"globex-post-purchase-2026", "globex-post-purchase-2026", "globex-nps-2026-h1", "globex-nps-2026-h2"},
	meta:    globexMeta,
}

// initech: a retail banking app.
var initech = tenantSpec{
	name:   "initech",
	weight: 28,
	moods:  [3]int{35, 30, 35},
	topics: []topic{
		{"fees", 10, []string{
			"No monthly fee and free transfers, hard to beat.",
			"The savings rate is one of the best I've found.",
			"I like that there are no hidden fees.",
			"Paying by card abroad without fees saved me a lot on holiday.",
			"Free cash withdrawals abroad are a lifesaver.",
		}, []string{
			"The new monthly account fee is a joke.",
			"Overdraft charges are way too high.",
			"Why does an international transfer cost $25?",
			"Savings interest is pathetic compared to other banks.",
			"Charging for paper statements in this day and age.",
			"Charging me for a replacement card is cheeky.",
		}},
		{"support", 10, []string{
			"The agent on the fraud line was calm and helpful.",
			"Branch staff helped me sort out my mortgage paperwork quickly.",
			"In-app chat resolved my card issue in ten minutes.",
			"Support called me back exactly when they said they would.",
			"The lady at the branch spent an hour helping my dad set up the app.",
		}, []string{
			"I waited 50 minutes on hold to report a lost card.",
			"The chat keeps handing me over to a bot.",
			"Nobody can tell me why my account was frozen.",
			"Support keeps telling me to visit a branch, the nearest one is an hour away.",
			"My complaint has been open for a month with no response.",
			"Your call centre hung up on me after 30 minutes on hold.",
		}},
		{"reliability", 10, []string{
			"The app has never let me down.",
			"Transfers always go through without issues.",
			"Very reliable, I check my balance daily without a hitch.",
			"Scheduled payments always go out on the right day.",
		}, []string{
			"The app crashes when I try to deposit a cheque.",
			"Online banking was down on payday.",
			"My transfer failed but the money left my account.",
			"The app keeps saying something went wrong when I log in.",
			"Transactions show up twice and then disappear.",
			"Card payments were declined for a whole afternoon because of an outage.",
			"My balance showed the wrong amount all morning.",
		}},
		{"performance", 7, []string{
			"The app opens fast and shows my balance right away.",
			"Transfers are instant, which I love.",
			"Much quicker than my old bank's app.",
		}, []string{
			"The app takes ages to load my transactions.",
			"Logging in takes about 20 seconds.",
			"Statements take forever to download.",
			"The app gets slower with each update.",
			"The spending tab takes forever to load.",
		}},
		{"usability", 9, []string{
			"Easy to move money between my accounts.",
			"The app layout is clean and simple.",
			"Paying someone new is really straightforward.",
			"Spending categories are clear and easy to read.",
			"Really clear layout for paying bills.",
		}, []string{
			"It takes too many taps to send money.",
			"I can never find my account number in the app.",
			"The new design hides the things I use most.",
			"Hard to find old statements.",
			"The text is too small and can't be resized.",
			"The menu labels make no sense to me.",
		}},
		{"features", 9, []string{
			"Love the savings pots and round-ups.",
			"Being able to freeze my card instantly gave me peace of mind.",
			"The budgeting tools actually help me save.",
			"Instant notifications for every card payment are great.",
			"Virtual cards for online shopping are brilliant.",
			"Cheque scanning is a huge time saver.",
		}, []string{
			"Please add Apple Pay support for my debit card.",
			"I want to be able to schedule payments further ahead.",
			"No joint account support in the app.",
			"Would love better spending insights by merchant.",
			"Can't set up standing orders from the app.",
			"I'd love to rename my savings pots.",
			"Please let me download transactions as a spreadsheet.",
		}},
		{"billing", 7, []string{
			"Disputed a charge and got my money back within a week.",
			"The fraud team spotted a dodgy charge before I did.",
			"Refunds show up on my card quickly.",
		}, []string{
			"A merchant charged me twice and the dispute is taking forever.",
			"I was charged a fee I was told would be waived.",
			"A refund from a shop still hasn't appeared on my card.",
			"My direct debit was taken twice this month.",
			"Pending transactions stay pending for days.",
			"Got charged a foreign transaction fee on a purchase from a local shop.",
		}},
		{"onboarding", 6, []string{
			"Opened my account from my phone in under ten minutes.",
			"The ID check was quick and painless.",
			"Switching my salary over was easy with the switching service.",
			"Setting up the app with my existing account was quick.",
		}, []string{
			"Verifying my identity took over a week.",
			"The app rejected my driving licence photo six times.",
			"Account opening asked for documents I'd already uploaded.",
			"Took three weeks to receive my card after opening the account.",
			"The activation code letter took two weeks to arrive.",
		}},
		{"login", 8, []string{
			"Face ID login is quick and feels secure.",
			"Two-factor prompts are quick and not annoying.",
			"Logging in with my fingerprint takes a second.",
		}, []string{
			"I get locked out after one wrong PIN attempt.",
			"The one-time passcodes arrive late or not at all.",
			"Fingerprint login stopped working after the update.",
			"Every login asks me to verify by SMS, it's tedious.",
			"The app forgets my device every week.",
		}},
	},
	shortPos: []string{
		"Best bank app I've used.", "Simple, fast, reliable banking.", "Really happy with Initech.",
		"Great app, no complaints.",
	},
	shortNeg: []string{
		"Absolutely awful bank.", "Moving my money elsewhere.", "The app is a disaster lately.",
	},
	shortMid: []string{
		"It's ok for basic banking.", "Does the job, nothing more.",
	},
	closePos: []string{
		"Would recommend to friends and family.", "Been with you 10 years and still happy.",
		"Thanks Initech!",
	},
	closeNeg: []string{
		"Considering closing my account.", "Not good enough for a bank.", "Please fix this ASAP.",
	},
	closeMid: []string{
		"Decent bank overall.", "Fine for now.",
	},
	surveys: []string{"initech-relationship-2026", "initech-relationship-2026", "initech-app-prompt"},
	meta:    initechMeta,
}

// umbrella is a tenant the demo config does not know: its jobs must be
// dead-lettered as unknown_tenant.
var umbrellaTexts = []string{
	"The lab portal is easy to use and results come back fast.",
	"Sample kits arrived late again this month.",
	"Our account manager is responsive and knowledgeable.",
	"The ordering system logs me out every few minutes.",
	"Pricing for the research tier went up without notice.",
	"Great service, our clinic relies on it.",
	"Delivery tracking for cold chain shipments is unreliable.",
	"The new dashboard makes reordering supplies simple.",
	"Invoices are hard to reconcile with our purchase orders.",
	"Support helped us set up the second site in a day.",
}

// Openers prefixed to some comments.
var openers = []string{
	"Honestly, ", "Overall, ", "To be honest, ", "tbh ", "So, ", "Well, ", "In short, ",
	"Been a customer for years. ", "First time filling one of these in. ",
}

// Long rambling comments, repeated to exceed the 10,000-byte text limit.
var rambles = map[string]string{
	"acme": "Where do I even start, we moved the whole agency onto Acme last spring and at first it was great, " +
		"the boards were fast and the Slack notifications kept everyone honest, but then the renewal came in much higher, " +
		"and the mobile app started logging people out, and support kept asking for the same screenshots, " +
		"and every time I think we have the permissions figured out someone new joins and sees a project they shouldn't, " +
		"so I spend my Fridays cleaning up workspaces instead of doing my actual job, which is not what we signed up for. ",
	"initech": "I have been banking with you since university and I want to explain everything that happened this year, " +
		"starting with the card that was blocked while I was abroad, then the transfer that left my account but never arrived, " +
		"then the hour on hold, then the letter asking me to visit a branch that closed two years ago, " +
		"and honestly the app itself is nice when it works but it feels like nobody is steering the ship any more. ",
}
