export { sendMessage, type SendResult } from "./send.ts";
export { createConversation, isConversationCursor, leaveConversation, listConversations, unreadConversationCount, MAX_GROUP_MEMBERS, type ConversationPage } from "./conversations.ts";
export { announceMembershipChange, conversationInfo, dropMembershipCache, followMembershipChanges, membershipChannel, notMember, recipientsOf, type ConversationInfo } from "./membership.ts";
export { listMessages } from "./history.ts";
export { presenceAudience, presenceAudienceAmong, presenceBetween, visiblePresences, visiblePresencesAmong, type PartnerList } from "./partners.ts";
export { markRead } from "./read.ts";
export { createFanoutBudget, type FanoutBudget } from "./fanout-budget.ts";
export { parseSendInput, parseId } from "./validation.ts";
export type { SendInput, SentAnswer, MessageEventData, MessagingDeps, ConversationSummary, StoredMessage } from "./types.ts";
